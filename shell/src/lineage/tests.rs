//! The lineage cell: what it holds, its generations, and what it says while it waits.

use super::*;

fn config() -> Config {
    Config::from_toml_str(
        r#"
[clusters.local]
bootstrap = "127.0.0.1:9092"
[tracing]
cluster = "local"
topic = "traces"
group = "cairn"
[output]
cluster = "local"
topic = "lost"
[[streams]]
name = "s"
[[streams.apps]]
app = "api"
writes = "local/t1"
"#,
    )
    .expect("a valid config")
}

fn applied(config: &Config, version: &str) -> Applied {
    Applied {
        lineage: Arc::new(Lineage::compile(&config.streams).expect("compiles")),
        config: config.clone(),
        version: version.to_owned(),
        hash: Some(format!("sha256:{version}")),
        etag: None,
        source: LineageSource::ControlPlane {
            url: "http://cp/".to_owned(),
        },
        applied_at: 7,
        generation: 0,
    }
}

#[test]
fn a_file_lineage_is_there_from_the_start_and_never_waits() {
    let config = config();
    let lineage = Lineage::compile(&config.streams).expect("compiles");
    let cell = LineageCell::from_file(&config, lineage, 42);
    let current = cell.current().expect("in use");
    assert_eq!(current.version, "file");
    assert_eq!(current.source.kind(), "file");
    assert_eq!(current.generation, 1);
    assert_eq!(current.applied_at, 42);
    assert_eq!(cell.control_plane(), None);
    assert_eq!(cell.waiting(), None);
}

#[test]
fn a_control_plane_cell_waits_until_its_first_lineage_then_counts_generations() {
    let cell = LineageCell::awaiting("http://cp/");
    assert_eq!(cell.control_plane(), Some("http://cp/"));
    assert_eq!(
        cell.waiting().as_deref(),
        Some("waiting for the first lineage from the control plane http://cp/")
    );
    cell.status.lock().last_error = Some("answered HTTP 503, expected 2xx".to_owned());
    assert_eq!(
        cell.waiting().as_deref(),
        Some(
            "waiting for the first lineage from the control plane http://cp/ (last attempt: \
             answered HTTP 503, expected 2xx)"
        )
    );
    let config = config();
    let first = cell.apply(applied(&config, "a"));
    assert_eq!(first.generation, 1);
    assert_eq!(cell.waiting(), None);
    let second = cell.apply(applied(&config, "b"));
    assert_eq!(second.generation, 2);
    let current = cell.current().expect("in use");
    assert!(Arc::ptr_eq(&current, &second));
    assert_eq!(current.source.kind(), "control_plane");
}
