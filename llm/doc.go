// Package llm is the language model adapter: a client of the OpenAI chat
// completions API (POST /chat/completions), which hosted providers and
// self-hosted servers (vLLM, llama.cpp, Ollama, LiteLLM) speak alike. It
// implements core.AssistantModel: the core gives it the conversation and
// the assistant's tools, it answers with the reply and the tool calls.
package llm
