// A page object for the dashboard: tests say what a person does, this says
// which elements that touches (by data-testid).
export class Dashboard {
  constructor(page) {
    this.page = page;
  }

  async open(url) {
    await this.page.goto(url);
    await this.connectionState('live');
  }

  /** Waits until the connection indicator is in `state` (live, down, connecting). */
  async connectionState(state) {
    await this.page.locator(`[data-testid=connection][data-state=${state}]`).waitFor();
  }

  async fillOrder({ customer, sku, quantity, price }) {
    await this.page.getByTestId('customer-id').fill(customer);
    const item = this.page.getByTestId('item-0');
    await item.getByTestId('sku').fill(sku);
    await item.getByTestId('quantity').fill(quantity);
    await item.getByTestId('unit-price').fill(price);
  }

  async submit() {
    await this.page.getByTestId('place-order').click();
  }

  /** Submits and returns the acknowledgement the page shows. */
  async placeOrder() {
    const shown = this.page.getByTestId('ack');
    const previous = (await shown.count()) > 0 ? await shown.getAttribute('data-order-id') : null;
    await this.submit();
    const ack = previous
      ? this.page.locator(`[data-testid=ack]:not([data-order-id="${previous}"])`)
      : this.page.getByTestId('ack');
    await ack.waitFor();
    return {
      orderId: await ack.getAttribute('data-order-id'),
      partition: Number(await ack.getAttribute('data-partition')),
      offset: Number(await ack.getAttribute('data-offset')),
    };
  }

  feedRow(orderId) {
    return this.page.locator(`[data-testid=feed-row][data-order-id="${orderId}"]`);
  }

  partitionRow(partition) {
    return this.page.locator(`[data-testid=partition-row][data-partition="${partition}"]`);
  }

  /** "partition:offset" of every row in the feed. */
  async feedOffsets() {
    return this.page
      .getByTestId('feed-row')
      .evaluateAll((rows) => rows.map((r) => `${r.dataset.partition}:${r.dataset.offset}`));
  }

  /** The card of demo service `name`. */
  service(name) {
    return this.page.locator(`[data-testid=service][data-service="${name}"]`);
  }

  /** Waits until the service shows `running` (true or false). */
  async serviceRunning(name, running) {
    await this.page
      .locator(`[data-testid=service][data-service="${name}"][data-running="${running}"]`)
      .waitFor();
  }

  /** Waits until the service's lag reads `lag`. */
  async serviceLag(name, lag) {
    await this.service(name).locator(`[data-testid=service-lag][data-lag="${lag}"]`).waitFor();
  }

  async serviceProcessed(name) {
    return Number(await this.service(name).getByTestId('service-processed').textContent());
  }

  /** Clicks Stop or Start and waits for the card to show the new state. */
  async toggleService(name) {
    const running = (await this.service(name).getAttribute('data-running')) === 'true';
    await this.service(name).getByTestId('service-toggle').click();
    await this.serviceRunning(name, !running);
  }

  /** The fan-out chip of `service` on the feed row of `orderId`. */
  fanoutChip(orderId, service) {
    return this.feedRow(orderId).locator(`[data-testid=fanout-service][data-service="${service}"]`);
  }
}
