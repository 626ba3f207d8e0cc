// Package providers maps what model providers return to schema v1 events.
// Pure functions: no I/O beyond the reader they are given, no pricing; they
// read only usage, model, id and time fields, never content.
//
// Two kinds of input:
//
// Usage exports (OpenAIUsage): a provider's organisation usage report.
// Event ids are derived from the export's own keys, so the same export maps
// to the same events every time.
//
// One response (Map): a provider's own response body, or just its usage
// object, as the gateway's /v1/usage/{provider} receives it, counted exactly
// as the provider bills it, in the nesting schema v1 uses (input includes
// cache reads and writes, cache writes include 1-hour writes, output
// includes reasoning):
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
