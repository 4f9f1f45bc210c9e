// The usage units @pydantic/genai-prices prices (its units.yml): which usage
// key a price key applies to, per how many units, and the unit's dimensions.
// Units form a hierarchy by their dimensions (cache_read_tokens refines
// input_tokens); a price applies to the part of a unit not covered by a more
// specific priced unit. test/unit/pricing-catalog.test.ts checks this table
// against the library's own totals for every bundled model.

export interface UnitDef {
  priceKey: string;
  per: number;
  dimensions: Readonly<Record<string, string>>;
}

/** Token units of one direction: every modality (or none) by every token type (or none), per million tokens. */
function tokenUnits(direction: "input" | "output", tokenTypes: readonly string[]): Record<string, UnitDef> {
  const out: Record<string, UnitDef> = {};
  for (const modality of ["", "audio", "image", "text", "video"])
    for (const tokenType of ["", ...tokenTypes]) {
      const name = [direction, modality, tokenType].filter(Boolean).join("_");
      out[`${name}_tokens`] = {
        priceKey: `${name}_mtok`,
        per: 1000000,
        dimensions: { direction, family: "tokens", ...(modality ? { modality } : {}), ...(tokenType ? { token_type: tokenType } : {}) },
      };
    }
  return out;
}

/** Every other unit, by its usage key. */
const otherUnits: Readonly<Record<string, UnitDef>> = {
  audio_seconds: { priceKey: "audio_hours", per: 3600, dimensions: { family: "durations", modality: "audio" } },
  cache_audio_read_tokens: {
    priceKey: "cache_audio_read_mtok",
    per: 1000000,
    dimensions: { direction: "input", family: "tokens", modality: "audio", token_type: "cache_read" },
  },
  cache_audio_write_1h_tokens: {
    priceKey: "cache_audio_write_1h_mtok",
    per: 1000000,
    dimensions: { cache_ttl: "1h", direction: "input", family: "tokens", modality: "audio", token_type: "cache_write" },
  },
  cache_audio_write_5m_tokens: {
    priceKey: "cache_audio_write_5m_mtok",
    per: 1000000,
    dimensions: { cache_ttl: "5m", direction: "input", family: "tokens", modality: "audio", token_type: "cache_write" },
  },
  cache_audio_write_tokens: {
    priceKey: "cache_audio_write_mtok",
    per: 1000000,
    dimensions: { direction: "input", family: "tokens", modality: "audio", token_type: "cache_write" },
  },
  cache_image_read_tokens: {
    priceKey: "cache_image_read_mtok",
    per: 1000000,
    dimensions: { direction: "input", family: "tokens", modality: "image", token_type: "cache_read" },
  },
  cache_image_write_1h_tokens: {
    priceKey: "cache_image_write_1h_mtok",
    per: 1000000,
    dimensions: { cache_ttl: "1h", direction: "input", family: "tokens", modality: "image", token_type: "cache_write" },
  },
  cache_image_write_5m_tokens: {
    priceKey: "cache_image_write_5m_mtok",
    per: 1000000,
    dimensions: { cache_ttl: "5m", direction: "input", family: "tokens", modality: "image", token_type: "cache_write" },
  },
  cache_image_write_tokens: {
    priceKey: "cache_image_write_mtok",
    per: 1000000,
    dimensions: { direction: "input", family: "tokens", modality: "image", token_type: "cache_write" },
  },
  cache_read_tokens: {
    priceKey: "cache_read_mtok",
    per: 1000000,
    dimensions: { direction: "input", family: "tokens", token_type: "cache_read" },
  },
  cache_text_read_tokens: {
    priceKey: "cache_text_read_mtok",
    per: 1000000,
    dimensions: { direction: "input", family: "tokens", modality: "text", token_type: "cache_read" },
  },
  cache_text_write_1h_tokens: {
    priceKey: "cache_text_write_1h_mtok",
    per: 1000000,
    dimensions: { cache_ttl: "1h", direction: "input", family: "tokens", modality: "text", token_type: "cache_write" },
  },
  cache_text_write_5m_tokens: {
    priceKey: "cache_text_write_5m_mtok",
    per: 1000000,
    dimensions: { cache_ttl: "5m", direction: "input", family: "tokens", modality: "text", token_type: "cache_write" },
  },
  cache_text_write_tokens: {
    priceKey: "cache_text_write_mtok",
    per: 1000000,
    dimensions: { direction: "input", family: "tokens", modality: "text", token_type: "cache_write" },
  },
  cache_video_read_tokens: {
    priceKey: "cache_video_read_mtok",
    per: 1000000,
    dimensions: { direction: "input", family: "tokens", modality: "video", token_type: "cache_read" },
  },
  cache_video_write_1h_tokens: {
    priceKey: "cache_video_write_1h_mtok",
    per: 1000000,
    dimensions: { cache_ttl: "1h", direction: "input", family: "tokens", modality: "video", token_type: "cache_write" },
  },
  cache_video_write_5m_tokens: {
    priceKey: "cache_video_write_5m_mtok",
    per: 1000000,
    dimensions: { cache_ttl: "5m", direction: "input", family: "tokens", modality: "video", token_type: "cache_write" },
  },
  cache_video_write_tokens: {
    priceKey: "cache_video_write_mtok",
    per: 1000000,
    dimensions: { direction: "input", family: "tokens", modality: "video", token_type: "cache_write" },
  },
  cache_write_1h_tokens: {
    priceKey: "cache_write_1h_mtok",
    per: 1000000,
    dimensions: { cache_ttl: "1h", direction: "input", family: "tokens", token_type: "cache_write" },
  },
  cache_write_5m_tokens: {
    priceKey: "cache_write_5m_mtok",
    per: 1000000,
    dimensions: { cache_ttl: "5m", direction: "input", family: "tokens", token_type: "cache_write" },
  },
  cache_write_tokens: {
    priceKey: "cache_write_mtok",
    per: 1000000,
    dimensions: { direction: "input", family: "tokens", token_type: "cache_write" },
  },
  code_executions: { priceKey: "code_executions_kcount", per: 1000, dimensions: { family: "tool_calls", tool_type: "code_execution" } },
  input_annotated_document_pages: {
    priceKey: "input_annotated_document_kpages",
    per: 1000,
    dimensions: { direction: "input", family: "document_pages", page_type: "annotated" },
  },
  input_audio_seconds: {
    priceKey: "input_audio_hours",
    per: 3600,
    dimensions: { direction: "input", family: "durations", modality: "audio" },
  },
  input_characters: { priceKey: "input_mchars", per: 1000000, dimensions: { direction: "input", family: "characters" } },
  input_document_pages: { priceKey: "input_document_kpages", per: 1000, dimensions: { direction: "input", family: "document_pages" } },
  input_pixels: { priceKey: "input_gpixels", per: 1000000000, dimensions: { direction: "input", family: "pixels" } },
  input_text_messages: {
    priceKey: "input_text_messages_kcount",
    per: 1000,
    dimensions: { direction: "input", family: "messages", modality: "text" },
  },
  output_audio_seconds: {
    priceKey: "output_audio_hours",
    per: 3600,
    dimensions: { direction: "output", family: "durations", modality: "audio" },
  },
  requests: { priceKey: "requests_kcount", per: 1000, dimensions: { family: "requests" } },
  rerank_searches: { priceKey: "rerank_searches_kcount", per: 1000, dimensions: { family: "rerank" } },
  social_searches: { priceKey: "social_searches_kcount", per: 1000, dimensions: { family: "tool_calls", tool_type: "social_search" } },
  storage_searches: { priceKey: "storage_searches_kcount", per: 1000, dimensions: { family: "tool_calls", tool_type: "storage_search" } },
  web_searches: { priceKey: "web_searches_kcount", per: 1000, dimensions: { family: "tool_calls", tool_type: "web_search" } },
};

export const units: Readonly<Record<string, UnitDef>> = Object.fromEntries(
  // In the order of their usage keys, as units.yml lists them.
  Object.entries({ ...otherUnits, ...tokenUnits("input", ["tool"]), ...tokenUnits("output", ["citation", "reasoning"]) }).sort(
    ([a], [b]) => (a < b ? -1 : a > b ? 1 : 0),
  ),
);

export const unitByPriceKey: ReadonlyMap<string, { usageKey: string } & UnitDef> = new Map(
  Object.entries(units).map(([usageKey, u]) => [u.priceKey, { usageKey, ...u }]),
);

/** True when `child` refines `parent`: it has every dimension of the parent, with the same value. */
export function refines(child: UnitDef, parent: UnitDef): boolean {
  return Object.entries(parent.dimensions).every(([k, v]) => child.dimensions[k] === v);
}
