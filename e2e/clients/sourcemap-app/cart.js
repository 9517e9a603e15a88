// The cart's total: one item has a price that is not a number.
export function checkout(items) {
  const total = items.reduce((sum, item) => sum + priceOf(item), 0);
  return { total, count: items.length };
}

function priceOf(item) {
  if (typeof item.cents !== 'number') {
    throw new TypeError(`price of ${item.sku} is not a number`);
  }
  return item.cents;
}
