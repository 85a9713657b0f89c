//! The HTTP error boundary: every failure a client can see, each with one
//! status and the same JSON body ([`wire::ErrorBody`]).

use axum::Json;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use wire::{ErrorBody, ErrorCode, FieldError};

use crate::admission::Refused;

use crate::core::filter::FilterError;
use crate::core::filters::OpenFilterError;
use crate::core::flow::FlowError;
use crate::core::load::LoadError;
use crate::core::orders::PlaceError;
use crate::core::replay::ReplayError;
use crate::core::search::SearchError;
use crate::core::services::CrashError;
use crate::core::topics::{TopicError, TopicSetting};
use crate::core::watches::WatchError;

#[derive(Debug, thiserror::Error)]
pub enum ApiError {
    #[error("the body is not valid JSON: {0}")]
    MalformedJson(String),
    #[error("the body could not be read: {0}")]
    UnreadableBody(String),
    #[error("expected Content-Type: application/json")]
    UnsupportedMediaType,
    #[error("the body is larger than the {limit} bytes the gateway accepts")]
    PayloadTooLarge { limit: usize },
    #[error("{message}")]
    InvalidField { field: String, message: String },
    #[error("{0}")]
    BrokerUnavailable(String),
    #[error("too many live clients: {0}")]
    TooManyClients(Refused),
    #[error("too many replays: {0}; try again shortly")]
    ReplaysBusy(Refused),
    #[error("too many request bodies being sent at once: {0}; try again shortly")]
    BodiesBusy(Refused),
    #[error("no route for {0}")]
    NotFound(String),
    /// `GET /api/record` found no record there.
    #[error("{0}")]
    NoRecord(String),
    /// `GET /api/record`: the record is larger than the gateway serves.
    #[error("{0}")]
    RecordTooLarge(String),
    #[error("no demo service named {0:?}")]
    NoSuchService(String),
    #[error("service {0:?} runs no member to crash; start it first")]
    NothingToCrash(String),
    #[error("a load run is already running; stop it first (DELETE /api/load)")]
    LoadRunning,
    #[error("no load run has been started")]
    NoLoad,
    #[error("topic {0:?} exists already")]
    TopicExists(String),
    #[error("a request with this Idempotency-Key is still being placed; retry in a moment")]
    IdempotencyInProgress,
    #[error("this gateway requires an API token for writes: send Authorization: Bearer <token>")]
    Unauthorized,
    #[error("too many writes from this client; retry in {0} s")]
    RateLimited(u64),
    #[error("pages from {0} may not open the live stream; see --allowed-origin")]
    ForbiddenOrigin(String),
    #[error("method not allowed")]
    MethodNotAllowed,
    #[error(
        "this gateway is not served under the name {0:?}; its operator can add it with \
         --public-host"
    )]
    ForeignHost(String),
    #[error("too many connections: {0}")]
    TooManyConnections(Refused),
    /// The gateway's own failure, not the client's nor the broker's.
    #[error("{0}")]
    Internal(String),
    #[error("the request took longer than {0} ms")]
    Timeout(u128),
    #[error("{0}")]
    Watch(WatchError),
    /// Capacity taken (live filters, in all or by this address).
    #[error("{0}")]
    Busy(String),
    #[error("this is the live stream: open it as a WebSocket (the request is fine otherwise)")]
    UpgradeRequired,
}

impl ApiError {
    pub fn code(&self) -> ErrorCode {
        match self {
            Self::MalformedJson(_) => ErrorCode::MalformedJson,
            Self::UnreadableBody(_) => ErrorCode::UnreadableBody,
            Self::UnsupportedMediaType => ErrorCode::UnsupportedMediaType,
            Self::PayloadTooLarge { .. } | Self::RecordTooLarge(_) => ErrorCode::PayloadTooLarge,
            Self::InvalidField { .. } => ErrorCode::InvalidField,
            Self::BrokerUnavailable(_) => ErrorCode::BrokerUnavailable,
            Self::TooManyClients(_) => ErrorCode::TooManyClients,
            Self::ReplaysBusy(_) | Self::BodiesBusy(_) => ErrorCode::Busy,
            Self::Unauthorized => ErrorCode::Unauthorized,
            Self::RateLimited(_) => ErrorCode::RateLimited,
            Self::ForbiddenOrigin(_) | Self::ForeignHost(_) => ErrorCode::Forbidden,
            Self::TooManyConnections(_) => ErrorCode::TooManyClients,
            Self::Internal(_) => ErrorCode::Internal,
            Self::NotFound(_) | Self::NoSuchService(_) | Self::NoLoad | Self::NoRecord(_) => {
                ErrorCode::NotFound
            }
            Self::LoadRunning
            | Self::TopicExists(_)
            | Self::IdempotencyInProgress
            | Self::NothingToCrash(_) => ErrorCode::Conflict,
            Self::MethodNotAllowed => ErrorCode::MethodNotAllowed,
            Self::Timeout(_) => ErrorCode::Timeout,
            Self::UpgradeRequired => ErrorCode::UpgradeRequired,
            Self::Watch(err) => match err {
                WatchError::NotAllowed(_) => ErrorCode::Forbidden,
                WatchError::NoSuchTopic(_) => ErrorCode::NotFound,
                WatchError::TooMany(_) | WatchError::TooManyForClient(_) => ErrorCode::Busy,
                WatchError::Unavailable(_) => ErrorCode::BrokerUnavailable,
                WatchError::Clients(_) => ErrorCode::Internal,
            },
            Self::Busy(_) => ErrorCode::Busy,
        }
    }

    pub fn status(&self) -> StatusCode {
        match self {
            Self::MalformedJson(_) | Self::UnreadableBody(_) => StatusCode::BAD_REQUEST,
            Self::UnsupportedMediaType => StatusCode::UNSUPPORTED_MEDIA_TYPE,
            Self::PayloadTooLarge { .. } | Self::RecordTooLarge(_) => StatusCode::PAYLOAD_TOO_LARGE,
            Self::InvalidField { .. } => StatusCode::UNPROCESSABLE_ENTITY,
            Self::BrokerUnavailable(_)
            | Self::TooManyClients(_)
            | Self::ReplaysBusy(_)
            | Self::BodiesBusy(_)
            | Self::TooManyConnections(_) => StatusCode::SERVICE_UNAVAILABLE,
            Self::Internal(_) => StatusCode::INTERNAL_SERVER_ERROR,
            Self::NotFound(_) | Self::NoSuchService(_) | Self::NoLoad | Self::NoRecord(_) => {
                StatusCode::NOT_FOUND
            }
            Self::LoadRunning
            | Self::TopicExists(_)
            | Self::IdempotencyInProgress
            | Self::NothingToCrash(_) => StatusCode::CONFLICT,
            Self::MethodNotAllowed => StatusCode::METHOD_NOT_ALLOWED,
            Self::Unauthorized => StatusCode::UNAUTHORIZED,
            Self::RateLimited(_) => StatusCode::TOO_MANY_REQUESTS,
            Self::ForbiddenOrigin(_) | Self::ForeignHost(_) => StatusCode::FORBIDDEN,
            Self::Timeout(_) => StatusCode::REQUEST_TIMEOUT,
            Self::UpgradeRequired => StatusCode::UPGRADE_REQUIRED,
            Self::Watch(err) => match err {
                WatchError::NotAllowed(_) => StatusCode::FORBIDDEN,
                WatchError::NoSuchTopic(_) => StatusCode::NOT_FOUND,
                WatchError::TooMany(_)
                | WatchError::TooManyForClient(_)
                | WatchError::Unavailable(_) => StatusCode::SERVICE_UNAVAILABLE,
                WatchError::Clients(_) => StatusCode::INTERNAL_SERVER_ERROR,
            },
            Self::Busy(_) => StatusCode::SERVICE_UNAVAILABLE,
        }
    }

    pub fn body(&self) -> ErrorBody {
        ErrorBody {
            code: self.code(),
            message: self.to_string(),
            field: match self {
                Self::InvalidField { field, .. } => Some(field.clone()),
                _ => None,
            },
        }
    }
}

impl From<FieldError> for ApiError {
    fn from(err: FieldError) -> Self {
        Self::InvalidField {
            field: err.field,
            message: err.message,
        }
    }
}

impl From<PlaceError> for ApiError {
    fn from(err: PlaceError) -> Self {
        match err {
            PlaceError::Produce(_) | PlaceError::KeyLog(_) => {
                Self::BrokerUnavailable(err.to_string())
            }
            // A placing task that panicked or was cancelled: the gateway's
            // fault, not the broker's.
            PlaceError::Interrupted(_) => Self::Internal(err.to_string()),
            PlaceError::KeyInProgress => Self::IdempotencyInProgress,
            PlaceError::KeyReused => Self::InvalidField {
                field: "Idempotency-Key".into(),
                message: err.to_string(),
            },
        }
    }
}

impl From<OpenFilterError> for ApiError {
    fn from(err: OpenFilterError) -> Self {
        match err {
            OpenFilterError::Filter(FilterError::Invalid(_)) => Self::InvalidField {
                field: "filter".into(),
                message: err.to_string(),
            },
            OpenFilterError::TooMany(_) | OpenFilterError::TooManyForClient(_) => {
                Self::Busy(err.to_string())
            }
            OpenFilterError::Filter(FilterError::Worker(_)) | OpenFilterError::Unavailable(_) => {
                Self::Internal(err.to_string())
            }
        }
    }
}

impl From<SearchError> for ApiError {
    fn from(err: SearchError) -> Self {
        match err {
            SearchError::Busy(_) => Self::Busy(err.to_string()),
            SearchError::Filter(FilterError::Invalid(_)) => Self::InvalidField {
                field: "filter".into(),
                message: err.to_string(),
            },
            SearchError::Filter(FilterError::Worker(_)) => Self::Internal(err.to_string()),
            SearchError::NoPartition { .. } => Self::InvalidField {
                field: "partition".into(),
                message: err.to_string(),
            },
            SearchError::Unavailable(message) => Self::BrokerUnavailable(message),
        }
    }
}

impl From<ReplayError> for ApiError {
    fn from(err: ReplayError) -> Self {
        match err {
            ReplayError::Busy(refused) => Self::ReplaysBusy(refused),
            ReplayError::NoPartition { .. } => Self::InvalidField {
                field: "partition".into(),
                message: err.to_string(),
            },
            ReplayError::Unavailable(message) => Self::BrokerUnavailable(message),
            ReplayError::NoRecord { .. } => Self::NoRecord(err.to_string()),
            ReplayError::TooLarge { .. } => Self::RecordTooLarge(err.to_string()),
        }
    }
}

impl From<FlowError> for ApiError {
    fn from(err: FlowError) -> Self {
        Self::BrokerUnavailable(err.to_string())
    }
}

impl From<LoadError> for ApiError {
    fn from(err: LoadError) -> Self {
        match err {
            LoadError::Running => Self::LoadRunning,
        }
    }
}

impl From<CrashError> for ApiError {
    fn from(err: CrashError) -> Self {
        match err {
            CrashError::NoSuchService(name) => Self::NoSuchService(name),
            CrashError::NotRunning(name) => Self::NothingToCrash(name),
        }
    }
}

impl From<TopicError> for ApiError {
    fn from(err: TopicError) -> Self {
        match err {
            TopicError::Exists(name) => Self::TopicExists(name),
            TopicError::Refused { setting, message } => Self::InvalidField {
                field: match setting {
                    TopicSetting::Name => "name",
                    TopicSetting::Partitions => "partitions",
                    TopicSetting::ReplicationFactor => "replication_factor",
                }
                .into(),
                message,
            },
            TopicError::Unavailable(message) => Self::BrokerUnavailable(message),
        }
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        match &self {
            Self::BrokerUnavailable(err) => tracing::warn!(%err, "order not accepted"),
            Self::Internal(err) => tracing::error!(%err, "internal error"),
            _ => {}
        }
        let mut response = (self.status(), Json(self.body())).into_response();
        // For the metrics of refusals (`metrics::count_refusal`).
        response.extensions_mut().insert(self.code());
        match self {
            Self::Unauthorized => {
                response.headers_mut().insert(
                    axum::http::header::WWW_AUTHENTICATE,
                    axum::http::HeaderValue::from_static("Bearer"),
                );
            }
            // RFC 9110: a 426 names the protocol to upgrade to.
            Self::UpgradeRequired => {
                response.headers_mut().insert(
                    axum::http::header::UPGRADE,
                    axum::http::HeaderValue::from_static("websocket"),
                );
            }
            Self::RateLimited(seconds) => {
                response
                    .headers_mut()
                    .insert(axum::http::header::RETRY_AFTER, seconds.into());
            }
            _ => {}
        }
        response
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_placing_task_that_ended_without_an_answer_is_the_gateways_fault() {
        let error = ApiError::from(PlaceError::Interrupted("task panicked".into()));
        assert_eq!(error.status(), StatusCode::INTERNAL_SERVER_ERROR);
        assert_eq!(error.code(), ErrorCode::Internal);
    }
}
