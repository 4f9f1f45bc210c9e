// The built-in model map for degraded controls: an expensive model to a
// cheaper one of the same family. A config file's `downgrades` replaces it.
export const defaultDowngrades: Record<string, string> = {
  "gpt-4o": "gpt-4o-mini",
  "gpt-4.1": "gpt-4.1-mini",
  "gpt-5": "gpt-5-mini",
  o3: "o4-mini",
  "claude-opus-4-0": "claude-sonnet-4-0",
  "claude-opus-4-1": "claude-sonnet-4-0",
  "claude-sonnet-4-0": "claude-3-5-haiku-latest",
  "gemini-2.5-pro": "gemini-2.5-flash",
};
