//! OTLP/HTTP export of the spans hcp logs (`--features otlp`, `--otlp-endpoint`): every closed
//! `tracing` span becomes an OpenTelemetry span under the trace id the JSON log lines carry (the
//! span's `trace_id` field, with the caller's `parent_span_id` as its parent; a span without one
//! inherits its enclosing span's), its fields as attributes and its events (`answered`,
//! `decided`, ...) as span events. The SDK batches them to `ENDPOINT/v1/traces` as OTLP JSON on
//! its own thread, posted by [`PlainHttp`]; [`Exporter::shutdown`] sends what is left.

use std::io::{Read, Write};
use std::net::{TcpStream, ToSocketAddrs};
use std::time::{Duration, SystemTime};

use anyhow::{Context as _, Result};
use opentelemetry::trace::{
    Event as OtelEvent, Span as _, SpanContext, SpanId, TraceContextExt, TraceFlags, TraceId, TraceState, Tracer,
    TracerProvider as _,
};
use opentelemetry::{Context, KeyValue};
use opentelemetry_otlp::{Protocol, WithExportConfig, WithHttpConfig};
use opentelemetry_sdk::Resource;
use opentelemetry_sdk::trace::{IdGenerator, RandomIdGenerator, SdkTracer, SdkTracerProvider};
use tracing::field::{Field, Visit};
use tracing::span::{Attributes, Id, Record};
use tracing::{Event, Subscriber};
use tracing_subscriber::Layer;
use tracing_subscriber::layer::Context as LayerContext;
use tracing_subscriber::registry::LookupSpan;

/// The tracer provider: its batch processor owns the export thread.
#[derive(Debug)]
pub struct Exporter {
    provider: SdkTracerProvider,
}

impl Exporter {
    /// The exporter to `endpoint` (a collector's base URL) and the layer feeding it; `service`
    /// is the `service.name` resource attribute.
    pub fn new(endpoint: &str, service: &str) -> Result<(Exporter, SpanLayer)> {
        let url = format!("{}/v1/traces", endpoint.trim_end_matches('/'));
        if !url.starts_with("http://") {
            anyhow::bail!(
                "--otlp-endpoint {endpoint}: an http:// URL (this build has no TLS; run a collector beside hcp)"
            );
        }
        let exporter = opentelemetry_otlp::SpanExporter::builder()
            .with_http()
            .with_protocol(Protocol::HttpJson)
            .with_http_client(PlainHttp { timeout: Duration::from_secs(10) })
            .with_endpoint(url)
            .build()
            .with_context(|| format!("--otlp-endpoint {endpoint}"))?;
        let provider = SdkTracerProvider::builder()
            .with_batch_exporter(exporter)
            .with_resource(Resource::builder().with_service_name(service.to_string()).build())
            .build();
        let layer = SpanLayer { tracer: provider.tracer("hcp"), ids: RandomIdGenerator::default() };
        Ok((Exporter { provider }, layer))
    }

    /// Exports the spans still buffered and stops the export thread.
    pub fn shutdown(self) {
        if let Err(e) = self.provider.shutdown() {
            eprintln!("otlp: {e}");
        }
    }
}

/// Turns closed `tracing` spans into OpenTelemetry spans.
#[derive(Debug)]
pub struct SpanLayer {
    tracer: SdkTracer,
    ids: RandomIdGenerator,
}

/// What a span has gathered by the time it closes.
#[derive(Debug)]
struct Open {
    name: &'static str,
    trace_id: Option<TraceId>,
    parent: Option<SpanId>,
    span_id: SpanId,
    start: SystemTime,
    attributes: Vec<KeyValue>,
    events: Vec<OtelEvent>,
}

/// A span's or an event's fields: `trace_id` and `parent_span_id` apart (hex ids), `message` as
/// the event's name, the rest as attributes.
#[derive(Debug, Default)]
struct Fields {
    trace_id: Option<TraceId>,
    parent_span_id: Option<SpanId>,
    message: Option<String>,
    attributes: Vec<KeyValue>,
}

impl Visit for Fields {
    fn record_str(&mut self, field: &Field, value: &str) {
        match field.name() {
            "trace_id" => self.trace_id = TraceId::from_hex(value).ok().filter(|t| *t != TraceId::INVALID),
            "parent_span_id" => self.parent_span_id = SpanId::from_hex(value).ok().filter(|s| *s != SpanId::INVALID),
            "message" => self.message = Some(value.to_string()),
            name => self.attributes.push(KeyValue::new(name, value.to_string())),
        }
    }
    fn record_debug(&mut self, field: &Field, value: &dyn std::fmt::Debug) {
        // `%x` fields arrive here as Display wrapped in Debug: one string either way.
        self.record_str(field, &format!("{value:?}"));
    }
    fn record_i64(&mut self, field: &Field, value: i64) {
        self.attributes.push(KeyValue::new(field.name(), value));
    }
    fn record_u64(&mut self, field: &Field, value: u64) {
        self.attributes.push(KeyValue::new(field.name(), i64::try_from(value).unwrap_or(i64::MAX)));
    }
    fn record_f64(&mut self, field: &Field, value: f64) {
        self.attributes.push(KeyValue::new(field.name(), value));
    }
    fn record_bool(&mut self, field: &Field, value: bool) {
        self.attributes.push(KeyValue::new(field.name(), value));
    }
}

impl<S> Layer<S> for SpanLayer
where
    S: Subscriber + for<'a> LookupSpan<'a>,
{
    fn on_new_span(&self, attrs: &Attributes<'_>, id: &Id, ctx: LayerContext<'_, S>) {
        let Some(span) = ctx.span(id) else { return };
        let mut fields = Fields::default();
        attrs.record(&mut fields);
        let enclosing = span.parent().and_then(|p| p.extensions().get::<Open>().map(|o| (o.trace_id, o.span_id)));
        let (trace_id, parent) = match (fields.trace_id, enclosing) {
            (Some(t), _) => (Some(t), fields.parent_span_id),
            (None, Some((t, s))) => (t, Some(s)),
            (None, None) => (None, None),
        };
        span.extensions_mut().insert(Open {
            name: attrs.metadata().name(),
            trace_id,
            parent,
            span_id: self.ids.new_span_id(),
            start: SystemTime::now(),
            attributes: fields.attributes,
            events: Vec::new(),
        });
    }

    fn on_record(&self, id: &Id, values: &Record<'_>, ctx: LayerContext<'_, S>) {
        let Some(span) = ctx.span(id) else { return };
        let mut fields = Fields::default();
        values.record(&mut fields);
        if let Some(open) = span.extensions_mut().get_mut::<Open>() {
            open.trace_id = fields.trace_id.or(open.trace_id);
            open.parent = fields.parent_span_id.or(open.parent);
            open.attributes.extend(fields.attributes);
        }
    }

    fn on_event(&self, event: &Event<'_>, ctx: LayerContext<'_, S>) {
        let Some(span) = ctx.event_span(event) else { return };
        let mut fields = Fields::default();
        event.record(&mut fields);
        let mut attributes = fields.attributes;
        attributes.push(KeyValue::new("level", event.metadata().level().as_str()));
        let name = fields.message.unwrap_or_else(|| event.metadata().name().to_string());
        if let Some(open) = span.extensions_mut().get_mut::<Open>() {
            open.events.push(OtelEvent::new(name, SystemTime::now(), attributes, 0));
        }
    }

    fn on_close(&self, id: Id, ctx: LayerContext<'_, S>) {
        let Some(span) = ctx.span(&id) else { return };
        let Some(open) = span.extensions_mut().remove::<Open>() else { return };
        let mut builder = self
            .tracer
            .span_builder(open.name)
            .with_start_time(open.start)
            .with_attributes(open.attributes)
            .with_events(open.events);
        builder.span_id = Some(open.span_id);
        builder.trace_id = open.trace_id;
        // The caller's (or the enclosing span's) span as a remote parent: the trace joins theirs.
        let parent = match (open.trace_id, open.parent) {
            (Some(t), Some(p)) => Context::new().with_remote_span_context(SpanContext::new(
                t,
                p,
                TraceFlags::SAMPLED,
                true,
                TraceState::NONE,
            )),
            _ => Context::new(),
        };
        self.tracer.build_with_context(builder, &parent).end_with_timestamp(SystemTime::now());
    }
}

/// HTTP/1.1 POSTs over a plain socket, blocking: the SDK's batch thread drives each export to
/// completion itself, so no async runtime (and no TLS: a collector beside the process).
#[derive(Debug)]
struct PlainHttp {
    timeout: Duration,
}

#[async_trait::async_trait]
impl opentelemetry_http::HttpClient for PlainHttp {
    async fn send_bytes(
        &self,
        request: http::Request<bytes::Bytes>,
    ) -> Result<http::Response<bytes::Bytes>, opentelemetry_http::HttpError> {
        post(&request, self.timeout)
    }
}

fn post(
    request: &http::Request<bytes::Bytes>,
    timeout: Duration,
) -> Result<http::Response<bytes::Bytes>, opentelemetry_http::HttpError> {
    let uri = request.uri();
    let host = uri.host().ok_or_else(|| format!("{uri}: no host"))?;
    let port = uri.port_u16().unwrap_or(80);
    let addr = (host, port).to_socket_addrs()?.next().ok_or_else(|| format!("{host}: no address"))?;
    let mut stream = TcpStream::connect_timeout(&addr, timeout)?;
    stream.set_read_timeout(Some(timeout))?;
    stream.set_write_timeout(Some(timeout))?;
    let path = uri.path_and_query().map_or("/", |p| p.as_str());
    let mut head = format!(
        "{} {path} HTTP/1.1\r\nHost: {host}:{port}\r\nContent-Length: {}\r\nConnection: close\r\n",
        request.method(),
        request.body().len()
    );
    for (name, value) in request.headers() {
        head.push_str(&format!("{name}: {}\r\n", value.to_str()?));
    }
    head.push_str("\r\n");
    stream.write_all(head.as_bytes())?;
    stream.write_all(request.body())?;
    let mut answer = Vec::new();
    stream.read_to_end(&mut answer)?;
    let text = String::from_utf8_lossy(&answer);
    let status: u16 = text
        .split(' ')
        .nth(1)
        .and_then(|c| c.parse().ok())
        .ok_or_else(|| format!("{uri}: no HTTP status in the answer"))?;
    let body = text.split_once("\r\n\r\n").map_or(String::new(), |b| b.1.to_string());
    Ok(http::Response::builder().status(status).body(bytes::Bytes::from(body))?)
}
