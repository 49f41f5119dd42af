// The ES module entry: the CommonJS build's exports under their own names.
// Re-exporting (rather than compiling the facade twice) keeps one instance of
// the addon and of setBackend()'s defaults when both module systems load it.
export * from './index.js';
