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

export const units: Readonly<Record<string, UnitDef>> = {
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
  input_audio_tokens: {
    priceKey: "input_audio_mtok",
    per: 1000000,
    dimensions: { direction: "input", family: "tokens", modality: "audio" },
  },
  input_audio_tool_tokens: {
    priceKey: "input_audio_tool_mtok",
    per: 1000000,
    dimensions: { direction: "input", family: "tokens", modality: "audio", token_type: "tool" },
  },
  input_characters: { priceKey: "input_mchars", per: 1000000, dimensions: { direction: "input", family: "characters" } },
  input_document_pages: { priceKey: "input_document_kpages", per: 1000, dimensions: { direction: "input", family: "document_pages" } },
  input_image_tokens: {
    priceKey: "input_image_mtok",
    per: 1000000,
    dimensions: { direction: "input", family: "tokens", modality: "image" },
  },
  input_image_tool_tokens: {
    priceKey: "input_image_tool_mtok",
    per: 1000000,
    dimensions: { direction: "input", family: "tokens", modality: "image", token_type: "tool" },
  },
  input_pixels: { priceKey: "input_gpixels", per: 1000000000, dimensions: { direction: "input", family: "pixels" } },
  input_text_messages: {
    priceKey: "input_text_messages_kcount",
    per: 1000,
    dimensions: { direction: "input", family: "messages", modality: "text" },
  },
  input_text_tokens: { priceKey: "input_text_mtok", per: 1000000, dimensions: { direction: "input", family: "tokens", modality: "text" } },
  input_text_tool_tokens: {
    priceKey: "input_text_tool_mtok",
    per: 1000000,
    dimensions: { direction: "input", family: "tokens", modality: "text", token_type: "tool" },
  },
  input_tokens: { priceKey: "input_mtok", per: 1000000, dimensions: { direction: "input", family: "tokens" } },
  input_tool_tokens: {
    priceKey: "input_tool_mtok",
    per: 1000000,
    dimensions: { direction: "input", family: "tokens", token_type: "tool" },
  },
  input_video_tokens: {
    priceKey: "input_video_mtok",
    per: 1000000,
    dimensions: { direction: "input", family: "tokens", modality: "video" },
  },
  input_video_tool_tokens: {
    priceKey: "input_video_tool_mtok",
    per: 1000000,
    dimensions: { direction: "input", family: "tokens", modality: "video", token_type: "tool" },
  },
  output_audio_citation_tokens: {
    priceKey: "output_audio_citation_mtok",
    per: 1000000,
    dimensions: { direction: "output", family: "tokens", modality: "audio", token_type: "citation" },
  },
  output_audio_reasoning_tokens: {
    priceKey: "output_audio_reasoning_mtok",
    per: 1000000,
    dimensions: { direction: "output", family: "tokens", modality: "audio", token_type: "reasoning" },
  },
  output_audio_seconds: {
    priceKey: "output_audio_hours",
    per: 3600,
    dimensions: { direction: "output", family: "durations", modality: "audio" },
  },
  output_audio_tokens: {
    priceKey: "output_audio_mtok",
    per: 1000000,
    dimensions: { direction: "output", family: "tokens", modality: "audio" },
  },
  output_citation_tokens: {
    priceKey: "output_citation_mtok",
    per: 1000000,
    dimensions: { direction: "output", family: "tokens", token_type: "citation" },
  },
  output_image_citation_tokens: {
    priceKey: "output_image_citation_mtok",
    per: 1000000,
    dimensions: { direction: "output", family: "tokens", modality: "image", token_type: "citation" },
  },
  output_image_reasoning_tokens: {
    priceKey: "output_image_reasoning_mtok",
    per: 1000000,
    dimensions: { direction: "output", family: "tokens", modality: "image", token_type: "reasoning" },
  },
  output_image_tokens: {
    priceKey: "output_image_mtok",
    per: 1000000,
    dimensions: { direction: "output", family: "tokens", modality: "image" },
  },
  output_reasoning_tokens: {
    priceKey: "output_reasoning_mtok",
    per: 1000000,
    dimensions: { direction: "output", family: "tokens", token_type: "reasoning" },
  },
  output_text_citation_tokens: {
    priceKey: "output_text_citation_mtok",
    per: 1000000,
    dimensions: { direction: "output", family: "tokens", modality: "text", token_type: "citation" },
  },
  output_text_reasoning_tokens: {
    priceKey: "output_text_reasoning_mtok",
    per: 1000000,
    dimensions: { direction: "output", family: "tokens", modality: "text", token_type: "reasoning" },
  },
  output_text_tokens: {
    priceKey: "output_text_mtok",
    per: 1000000,
    dimensions: { direction: "output", family: "tokens", modality: "text" },
  },
  output_tokens: { priceKey: "output_mtok", per: 1000000, dimensions: { direction: "output", family: "tokens" } },
  output_video_citation_tokens: {
    priceKey: "output_video_citation_mtok",
    per: 1000000,
    dimensions: { direction: "output", family: "tokens", modality: "video", token_type: "citation" },
  },
  output_video_reasoning_tokens: {
    priceKey: "output_video_reasoning_mtok",
    per: 1000000,
    dimensions: { direction: "output", family: "tokens", modality: "video", token_type: "reasoning" },
  },
  output_video_tokens: {
    priceKey: "output_video_mtok",
    per: 1000000,
    dimensions: { direction: "output", family: "tokens", modality: "video" },
  },
  requests: { priceKey: "requests_kcount", per: 1000, dimensions: { family: "requests" } },
  rerank_searches: { priceKey: "rerank_searches_kcount", per: 1000, dimensions: { family: "rerank" } },
  social_searches: { priceKey: "social_searches_kcount", per: 1000, dimensions: { family: "tool_calls", tool_type: "social_search" } },
  storage_searches: { priceKey: "storage_searches_kcount", per: 1000, dimensions: { family: "tool_calls", tool_type: "storage_search" } },
  web_searches: { priceKey: "web_searches_kcount", per: 1000, dimensions: { family: "tool_calls", tool_type: "web_search" } },
};

export const unitByPriceKey: ReadonlyMap<string, { usageKey: string } & UnitDef> = new Map(
  Object.entries(units).map(([usageKey, u]) => [u.priceKey, { usageKey, ...u }]),
);

/** True when `child` refines `parent`: it has every dimension of the parent, with the same value. */
export function refines(child: UnitDef, parent: UnitDef): boolean {
  return Object.entries(parent.dimensions).every(([k, v]) => child.dimensions[k] === v);
}
