//! Counting the library's `tracing` events whose message holds a text:
//! how a test learns that something happened inside a task it cannot
//! reach (a step that leaves no trace in any store).

use std::sync::OnceLock;
use std::time::Duration;

use tracing::field::{Field, Visit};
use tracing::span::{Attributes, Id, Record};
use tracing::{Event, Metadata, Subscriber};

/// Events of `streamlake` (any level) whose message contains all the
/// texts of a watch, counted per watch.
struct Counting;

type Watched = std::sync::Mutex<Vec<(Vec<String>, tokio::sync::watch::Sender<u64>)>>;

fn watched() -> &'static Watched {
    static WATCHED: OnceLock<Watched> = OnceLock::new();
    WATCHED.get_or_init(|| {
        // The whole test binary's subscriber, installed once.
        tracing::subscriber::set_global_default(Counting).expect("no other subscriber");
        Default::default()
    })
}

/// A counter of the events whose message contains every one of `texts`
/// (name something only one test has, a topic: every test of the binary
/// logs to the same subscriber).
pub fn count_events(texts: &[&str]) -> tokio::sync::watch::Receiver<u64> {
    let (sender, receiver) = tokio::sync::watch::channel(0);
    let texts = texts.iter().map(|t| t.to_string()).collect();
    watched().lock().unwrap().push((texts, sender));
    receiver
}

/// Returns once `count` reaches `n`, or panics after a minute.
pub async fn until_events(count: &mut tokio::sync::watch::Receiver<u64>, n: u64, what: &str) {
    tokio::time::timeout(Duration::from_secs(60), count.wait_for(|c| *c >= n))
        .await
        .unwrap_or_else(|_| panic!("not {n} events of {what} within a minute"))
        .unwrap();
}

struct Message(String);

impl Visit for Message {
    fn record_debug(&mut self, field: &Field, value: &dyn std::fmt::Debug) {
        if field.name() == "message" {
            self.0 = format!("{value:?}");
        }
    }
}

impl Subscriber for Counting {
    fn enabled(&self, metadata: &Metadata<'_>) -> bool {
        metadata.target().starts_with("streamlake")
    }

    fn new_span(&self, _: &Attributes<'_>) -> Id {
        Id::from_u64(1)
    }

    fn record(&self, _: &Id, _: &Record<'_>) {}

    fn record_follows_from(&self, _: &Id, _: &Id) {}

    fn event(&self, event: &Event<'_>) {
        let mut message = Message(String::new());
        event.record(&mut message);
        for (texts, count) in watched().lock().unwrap().iter() {
            if texts.iter().all(|t| message.0.contains(t.as_str())) {
                count.send_modify(|c| *c += 1);
            }
        }
    }

    fn enter(&self, _: &Id) {}

    fn exit(&self, _: &Id) {}
}
