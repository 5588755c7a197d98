// A small Node.js "agent" that sends OpenTelemetry GenAI spans to `smythtop serve` over OTLP/HTTP (JSON),
// with the official SDK and exporter. It prints the spans it ended, as JSON, as the test's ground truth.
// Usage: node send_spans.mjs http://127.0.0.1:PORT/v1/traces
import { context, trace, SpanKind, SpanStatusCode } from "@opentelemetry/api";
import { OTLPTraceExporter } from "@opentelemetry/exporter-trace-otlp-http";
import { resourceFromAttributes } from "@opentelemetry/resources";
import { BatchSpanProcessor, InMemorySpanExporter, SimpleSpanProcessor } from "@opentelemetry/sdk-trace-base";
import { NodeTracerProvider } from "@opentelemetry/sdk-trace-node";

const url = process.argv[2];
const sent = new InMemorySpanExporter();
const provider = new NodeTracerProvider({
  resource: resourceFromAttributes({ "service.name": "node-agent" }),
  spanProcessors: [new SimpleSpanProcessor(sent), new BatchSpanProcessor(new OTLPTraceExporter({ url }))],
});
const tracer = provider.getTracer("smythtop-node-test", "1.0.0");

const agent = tracer.startSpan("invoke_agent planner", {
  attributes: { "gen_ai.operation.name": "invoke_agent", "gen_ai.agent.name": "planner" },
});
const inAgent = trace.setSpan(context.active(), agent);
for (let i = 0; i < 3; i++) {
  const chat = tracer.startSpan(
    "chat gpt-4.1",
    {
      kind: SpanKind.CLIENT,
      attributes: {
        "gen_ai.operation.name": "chat",
        "gen_ai.provider.name": "openai",
        "gen_ai.request.model": "gpt-4.1",
        "gen_ai.response.model": "gpt-4.1-2025-04-14",
        "gen_ai.usage.input_tokens": 1200 + i,
        "gen_ai.usage.output_tokens": 80 + i,
        "gen_ai.usage.cache_read.input_tokens": 1000,
        "gen_ai.response.finish_reasons": ["stop"],
        "gen_ai.conversation.id": "conv-42",
      },
    },
    inAgent,
  );
  chat.end();
}
const tool = tracer.startSpan(
  "execute_tool search",
  { attributes: { "gen_ai.operation.name": "execute_tool", "error.type": "TimeoutError" } },
  inAgent,
);
tool.setStatus({ code: SpanStatusCode.ERROR, message: "search timed out" });
tool.end();
agent.end();

await provider.forceFlush();

const ns = ([s, n]) => (BigInt(s) * 1_000_000_000n + BigInt(n)).toString();
const spans = sent.getFinishedSpans().map((s) => ({
  name: s.name,
  trace_id: s.spanContext().traceId,
  span_id: s.spanContext().spanId,
  parent_span_id: s.parentSpanContext?.spanId ?? null,
  start_ns: ns(s.startTime),
  end_ns: ns(s.endTime),
  attributes: s.attributes,
  error: s.status.code === SpanStatusCode.ERROR,
}));
await provider.shutdown();
process.stdout.write(JSON.stringify(spans) + "\n");
