//! UI tests for the shape errors that only a build reports: `const` checks inside generic
//! functions (e.g. `reshape` between static shapes of different element counts) are
//! evaluated after monomorphisation, which `cargo check` (and so trybuild) does not reach.
//!
//! Each `tests/ui/build/<case>.rs` is built as its own crate depending on `dimflow`; the
//! error lines of its output must equal `<case>.stderr`. Set `DIMFLOW_UI_OVERWRITE=1` to
//! rewrite the expected files (review the diff).

use std::path::{Path, PathBuf};
use std::process::Command;

/// Keeps the error and note headlines, and the source snippets that point into the fixture
/// (the user's code); drops snippets inside Dimflow's own sources, whose line numbers move
/// with every edit, and absolute paths.
fn normalize(stderr: &str, fixture: &Path) -> String {
    let fixture = fixture.display().to_string();
    let mut out = Vec::new();
    let mut in_error = false;
    let mut keep_snippet = false;
    for line in stderr.lines() {
        let l = line.trim_end();
        let trimmed = l.trim_start();
        if l.starts_with("error") {
            in_error = !l.starts_with("error: could not compile");
            keep_snippet = false;
        } else if l.starts_with("warning") || trimmed.starts_with("Compiling") {
            in_error = false;
        }
        if !in_error {
            continue;
        }
        if l.starts_with("error") || l.starts_with("note") || l.starts_with("For more information") {
            out.push(l.to_string());
            keep_snippet = false;
        } else if trimmed.starts_with("-->") || trimmed.starts_with(":::") {
            keep_snippet = l.contains(&fixture) || l.contains(" src/main.rs");
            if keep_snippet {
                out.push(l.replace(&fixture, "$FIXTURE"));
            }
        } else if keep_snippet {
            out.push(l.to_string());
        }
    }
    out.join("\n") + "\n"
}

#[test]
fn build_time_shape_errors() {
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR"));
    let work = root.join("target/ui-build");
    let mut cases: Vec<PathBuf> = std::fs::read_dir(root.join("tests/ui/build"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "rs"))
        .collect();
    cases.sort();
    assert!(!cases.is_empty());
    for case in cases {
        let name = case.file_stem().unwrap().to_string_lossy().to_string();
        let fixture = work.join(&name);
        std::fs::create_dir_all(fixture.join("src")).unwrap();
        std::fs::write(
            fixture.join("Cargo.toml"),
            format!(
                "[package]\nname = \"ui-{name}\"\nversion = \"0.0.0\"\nedition = \"2021\"\n\n\
                 [dependencies]\ndimflow = {{ path = {:?} }}\n\n[workspace]\n",
                root.display().to_string()
            ),
        )
        .unwrap();
        std::fs::copy(root.join("Cargo.lock"), fixture.join("Cargo.lock")).unwrap();
        std::fs::copy(&case, fixture.join("src/main.rs")).unwrap();
        let output = Command::new(env!("CARGO"))
            .args(["build", "--quiet", "--color", "never"])
            .current_dir(&fixture)
            .env("CARGO_TARGET_DIR", work.join("target"))
            .env_remove("RUSTFLAGS")
            .output()
            .unwrap();
        assert!(
            !output.status.success(),
            "{name}: expected the build to fail, but it succeeded"
        );
        let got = normalize(&String::from_utf8_lossy(&output.stderr), &fixture);
        let expected_path = case.with_extension("stderr");
        if std::env::var_os("DIMFLOW_UI_OVERWRITE").is_some() {
            std::fs::write(&expected_path, &got).unwrap();
            continue;
        }
        let expected = std::fs::read_to_string(&expected_path).unwrap_or_default();
        assert_eq!(
            got,
            expected,
            "{name}: build errors differ from {}",
            expected_path.display()
        );
    }
}
