//! Replays every fuzz corpus and regression input (`fuzz/corpus/<target>/`,
//! `fuzz/regressions/<target>/`) through the fuzz targets' bodies
//! (`rtspclient_protocol::fuzzing`), so the stable test run smoke-tests the
//! fuzzers and keeps every bug they found fixed.

use std::path::{Path, PathBuf};

use rtspclient_protocol::fuzzing::TARGETS;

fn fuzz_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../fuzz")
}

/// The files of a directory, sorted; fails if it is missing or empty (a
/// moved or emptied corpus must not make this test pass by doing nothing).
fn inputs(dir: &Path) -> Vec<PathBuf> {
    let entries = std::fs::read_dir(dir).unwrap_or_else(|e| panic!("{}: {e}", dir.display()));
    let mut files: Vec<PathBuf> = entries
        .map(|e| e.expect("directory entry").path())
        .filter(|p| p.is_file())
        .collect();
    files.sort();
    assert!(!files.is_empty(), "{} has no inputs", dir.display());
    files
}

/// Runs every input of `fuzz/<kind>/<target>/`. With `every_target`, each
/// target must have inputs; otherwise only the folders present are read
/// (a target that never failed has no regressions), and each folder must
/// be named after a target.
fn replay(kind: &str, every_target: bool) {
    let root = fuzz_dir().join(kind);
    for entry in std::fs::read_dir(&root).unwrap_or_else(|e| panic!("{}: {e}", root.display())) {
        let name = entry.expect("directory entry").file_name();
        let name = name.to_string_lossy();
        assert!(
            TARGETS.iter().any(|(n, _)| *n == name),
            "{kind}/{name}: no such target"
        );
    }
    let mut failures = Vec::new();
    for (name, target) in TARGETS {
        let dir = root.join(name);
        if !every_target && !dir.exists() {
            continue;
        }
        for file in inputs(&dir) {
            let data = std::fs::read(&file).expect("readable input");
            if std::panic::catch_unwind(|| target(&data)).is_err() {
                failures.push(format!("{name}: {}", file.display()));
            }
        }
    }
    assert!(
        failures.is_empty(),
        "failing inputs:\n{}",
        failures.join("\n")
    );
}

#[test]
fn corpora_pass() {
    replay("corpus", true);
}

#[test]
fn regressions_stay_fixed() {
    replay("regressions", false);
}

/// Every fuzz target has a `fuzz/fuzz_targets/<name>.rs` and vice versa.
#[test]
fn targets_match_the_fuzz_crate() {
    let dir = fuzz_dir().join("fuzz_targets");
    let mut files: Vec<String> = inputs(&dir)
        .iter()
        .filter_map(|p| Some(p.file_stem()?.to_str()?.to_owned()))
        .collect();
    files.sort();
    let mut names: Vec<String> = TARGETS.iter().map(|(n, _)| n.to_string()).collect();
    names.sort();
    assert_eq!(files, names);
}
