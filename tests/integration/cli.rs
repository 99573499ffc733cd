//! CLI behaviour, golden-tested: each `tests/cmd/<case>.toml` runs the real binary in
//! `tests/cmd/<case>.in/` and compares exit code, stdout and stderr exactly.
//! Update with `TRYCMD=overwrite cargo test`.

#[test]
fn cli_cases() {
    trycmd::TestCases::new()
        .case("tests/cmd/*.toml")
        .register_bin("stackc", trycmd::cargo::cargo_bin!("stackc"));
}
