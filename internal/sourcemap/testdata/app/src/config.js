// parseConfig reads the JSON text of a configuration.
export function parseConfig(text) {
  const parsed = JSON.parse(text);
  return validateConfig(parsed);
}

function validateConfig(candidate) {
  if (!candidate.widgets) {
    throw new Error('config has no widgets');
  }
  return candidate;
}
