// The same application built with more top-level code, so that the
// minifier gives its functions other names (a second deploy).
import { start } from './main.js';

const registry = [];
export function register(a, b, c, d, e, f) {
  registry.push(a, b, c, d, e, f, a, b, c, d, e, f);
  return registry.length + a + b + c + d + e + f;
}
register(1, 2, 3, 4, 5, 6);
export { start };
