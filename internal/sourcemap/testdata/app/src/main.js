import { parseConfig } from './config.js';
import { render } from 'fake-widgets';

// start parses a configuration and renders its widgets.
export function start(input) {
  const cfg = parseConfig(input);
  return render(cfg, (widget) => {
    if (widget.broken) {
      throw new TypeError('widget ' + widget.name + ' is broken');
    }
    return widget.name;
  });
}
