//! README.md's test command is what CI runs: the code block after the
//! sentence that introduces the test suite must be the command `.ci/run`
//! ends with.

use std::path::Path;

fn read(path: &str) -> String {
    std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join(path)).unwrap()
}

#[test]
fn ci_runs_the_test_command_readme_gives() {
    let readme = read("README.md");
    let after_marker = readme
        .split_once("run the whole test suite")
        .expect("README.md introduces its test command")
        .1;
    let block = after_marker
        .split("```")
        .nth(1)
        .expect("a code block after the marker");
    let readme_cmd: Vec<&str> = block
        .lines()
        .skip(1)
        .filter(|l| !l.trim().is_empty())
        .collect();

    let ci = read(".ci/run");
    let ci_cmd = ci
        .lines()
        .rev()
        .find(|l| !l.trim().is_empty())
        .expect(".ci/run has a command");
    assert_eq!(
        readme_cmd,
        [ci_cmd],
        "README.md's test command vs .ci/run's last line"
    );
}
