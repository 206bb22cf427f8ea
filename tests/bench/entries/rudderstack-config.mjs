// A minimal RudderStack source config, so that no config request is made.
export const sourceConfig = () => ({
  source: { id: "benchSource", name: "bench", writeKey: "benchWriteKey", enabled: true, workspaceId: "w", config: {}, destinations: [] },
});
