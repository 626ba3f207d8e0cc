// Package providers maps what model providers report to schema v1 token
// events, counting tokens exactly as the provider bills them, in the nesting
// schema v1 uses (input includes cache reads and writes, cache writes include
// 1-hour writes, output includes reasoning): a provider's own response body
// (or just its usage object), for the ingest gateway, and its usage exports
// (openai.go: the OpenAI usage API's daily buckets), for jevons import, whose
// event ids derive from the export's own keys so the same export maps to the
// same events every time. Pure mappings: no I/O, no pricing; only the usage,
// model, id and time fields are read, never the content.
//
//	openai     Chat Completions: input = prompt_tokens, cache read =
//	           prompt_tokens_details.cached_tokens, output = completion_tokens,
//	           reasoning = completion_tokens_details.reasoning_tokens.
//	           Responses: the same from input_tokens, input_tokens_details,
//	           output_tokens, output_tokens_details.
//	anthropic  input = input_tokens + cache_creation_input_tokens +
//	           cache_read_input_tokens; cache write = cache_creation_input_tokens,
//	           of which 1-hour = cache_creation.ephemeral_1h_input_tokens.
//	gemini     usageMetadata: input = promptTokenCount + toolUsePromptTokenCount,
//	           cache read = cachedContentTokenCount, output = candidatesTokenCount +
//	           thoughtsTokenCount, reasoning = thoughtsTokenCount; model = modelVersion.
//	bedrock    Converse: input = inputTokens + cacheReadInputTokens +
//	           cacheWriteInputTokens; output = outputTokens; latency = metrics.latencyMs.
//
// The event's provider is the OpenTelemetry name the price catalog matches:
// openai, anthropic, gcp.gemini, aws.bedrock.
package providers
