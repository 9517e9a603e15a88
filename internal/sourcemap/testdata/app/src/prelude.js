// A separately built prelude, concatenated before the application in the
// index-map fixture.
globalThis.Prelude = {
  version: 1,
  greet(name) {
    return 'hello ' + name;
  },
};
