"""Produces records with Confluent's own Schema Registry serializers, for
the gateway's format tests: Avro (fastavro), Protobuf and JSON Schema, each
registered in the registry the usual way (subject <topic>-value, and
<topic>-key for Avro keys), plus one value that names a schema id the
registry does not have.

    python registry_produce.py BROKERS REGISTRY_URL TOPIC

Prints one JSON line per record: its partition and offset, the format, and
the key and value a decoder should show (every field, the .proto names).
Runs with the tools venv (scripts/setup.sh --test installs its packages).
"""

import json
import sys

from confluent_kafka import Producer
from confluent_kafka.schema_registry import SchemaRegistryClient
from confluent_kafka.schema_registry.avro import AvroSerializer
from confluent_kafka.schema_registry.json_schema import JSONSerializer
from confluent_kafka.schema_registry.protobuf import ProtobufSerializer
from confluent_kafka.serialization import MessageField, SerializationContext
from google.protobuf import descriptor_pb2, descriptor_pool, message_factory
from google.protobuf.json_format import ParseDict

AVRO_ORDER = json.dumps({
    "type": "record", "name": "Order", "namespace": "shop",
    "fields": [
        {"name": "order_id", "type": "string"},
        {"name": "total_cents", "type": "long"},
        {"name": "note", "type": ["null", "string"], "default": None},
        {"name": "status", "type": {"type": "enum", "name": "Status", "symbols": ["NEW", "PAID"]}},
        {"name": "items", "type": {"type": "array", "items": {
            "type": "record", "name": "Item",
            "fields": [{"name": "sku", "type": "string"}, {"name": "qty", "type": "int"}]}}},
        {"name": "tags", "type": {"type": "map", "values": "double"}},
    ],
})

JSON_ORDER = json.dumps({
    "$schema": "http://json-schema.org/draft-07/schema#",
    "title": "Order", "type": "object",
    "properties": {"order_id": {"type": "string"}, "total_cents": {"type": "integer"}},
    "required": ["order_id", "total_cents"],
})


def proto_messages():
    """shop.Order (index [0], with a nested Item) and shop.Refund ([1])."""
    F = descriptor_pb2.FieldDescriptorProto
    fdp = descriptor_pb2.FileDescriptorProto(name="shop/order.proto", package="shop", syntax="proto3")
    order = fdp.message_type.add(name="Order")
    order.field.add(name="order_id", number=1, type=F.TYPE_STRING, label=F.LABEL_OPTIONAL)
    order.field.add(name="total_cents", number=2, type=F.TYPE_INT64, label=F.LABEL_OPTIONAL)
    item = order.nested_type.add(name="Item")
    item.field.add(name="sku", number=1, type=F.TYPE_STRING, label=F.LABEL_OPTIONAL)
    item.field.add(name="qty", number=2, type=F.TYPE_INT32, label=F.LABEL_OPTIONAL)
    order.field.add(name="items", number=3, type=F.TYPE_MESSAGE, type_name=".shop.Order.Item",
                    label=F.LABEL_REPEATED)
    order.field.add(name="status", number=4, type=F.TYPE_ENUM, type_name=".shop.Status",
                    label=F.LABEL_OPTIONAL)
    refund = fdp.message_type.add(name="Refund")
    refund.field.add(name="order_id", number=1, type=F.TYPE_STRING, label=F.LABEL_OPTIONAL)
    refund.field.add(name="full", number=2, type=F.TYPE_BOOL, label=F.LABEL_OPTIONAL)
    status = fdp.enum_type.add(name="Status")
    status.value.add(name="NEW", number=0)
    status.value.add(name="PAID", number=1)
    pool = descriptor_pool.DescriptorPool()
    pool.Add(fdp)
    return (message_factory.GetMessageClass(pool.FindMessageTypeByName("shop.Order")),
            message_factory.GetMessageClass(pool.FindMessageTypeByName("shop.Refund")))


def main():
    brokers, registry, topic = sys.argv[1:4]
    # A request the registry never answers is retried after 10 s (the
    # client retries timeouts), not waited on for ever: a CI run once hung
    # here with the registry answering every other request.
    client = SchemaRegistryClient({"url": registry, "timeout": 10})
    value_ctx = SerializationContext(topic, MessageField.VALUE)
    key_ctx = SerializationContext(topic, MessageField.KEY)
    producer = Producer({"bootstrap.servers": brokers, "enable.idempotence": True})
    printed = []

    def send(fmt, key_bytes, value_bytes, key, value):
        def delivered(err, msg):
            if err is not None:
                raise SystemExit(f"delivery failed: {err}")
            printed.append({"partition": msg.partition(), "offset": msg.offset(),
                            "format": fmt, "key": key, "value": value})
        producer.produce(topic, key=key_bytes, value=value_bytes, partition=0, on_delivery=delivered)
        producer.flush(30)

    avro_value = AvroSerializer(client, AVRO_ORDER)
    avro_key = AvroSerializer(client, '"string"')
    for i, note in enumerate([None, "gift"]):
        value = {"order_id": f"a-{i}", "total_cents": 1200 + i, "note": note,
                 "status": "PAID", "items": [{"sku": "sku-1", "qty": 2}], "tags": {"w": 0.5}}
        send("avro", avro_key(f"customer-{i}", key_ctx), avro_value(value, value_ctx),
             f"customer-{i}", value)

    order_cls, refund_cls = proto_messages()
    conf = {"use.deprecated.format": False}
    for cls, value in [
        (order_cls, {"order_id": "p-1", "total_cents": 3400, "status": "PAID",
                     "items": [{"sku": "sku-2", "qty": 1}]}),
        (refund_cls, {"order_id": "p-1", "full": True}),
    ]:
        serializer = ProtobufSerializer(cls, client, conf)
        message = ParseDict(value, cls())
        send("protobuf", b"p", serializer(message, value_ctx), "p", value)

    json_value = JSONSerializer(JSON_ORDER, client, to_dict=lambda obj, ctx: obj)
    value = {"order_id": "j-1", "total_cents": 5600}
    send("json", b"j", json_value(value, value_ctx), "j", value)

    # A value in the wire format whose schema id no registry has.
    send("unknown", b"u", b"\x00\x7f\xff\xff\xf0\x01\x02", "u", None)

    for line in printed:
        print(json.dumps(line))


if __name__ == "__main__":
    main()
