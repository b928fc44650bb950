//! Templates that never end or never stop growing (issue 15): rendering is bounded by minijinja
//! fuel and by an output limit per rendered part, in the library and in `templates check`.

mod support;

use std::path::Path;

use cspguard::notices::templates::{RenderLimits, Renderer, TemplateError, samples};

/// An override directory whose English first reminder has `text` as its text body.
fn overrides(dir: &Path, text: &str) {
    let en = dir.join("en");
    std::fs::create_dir_all(&en).expect("mkdir");
    std::fs::write(en.join("reminder-1.subject.txt"), "Reminder").expect("write");
    std::fs::write(en.join("reminder-1.txt"), text).expect("write");
    std::fs::write(en.join("reminder-1.html"), "<p>Reminder</p>").expect("write");
}

const NESTED_LOOP: &str =
    "{% for a in range(100000) %}{% for b in range(100000) %}{% endfor %}{% endfor %}";
const HUGE_OUTPUT: &str =
    "{% for a in range(100000) %}{{ customer.company_name }} owes us. {% endfor %}";

fn render(dir: &Path, limits: RenderLimits) -> Result<(), TemplateError> {
    let renderer = Renderer::new(Some(dir.to_path_buf()))
        .expect("renderer")
        .with_limits(limits);
    renderer
        .render("reminder-1", "en", &samples::notice("reminder-1", "en"))
        .map(|_| ())
}

#[test]
fn a_nested_loop_runs_out_of_fuel() {
    let dir = tempfile::tempdir().expect("dir");
    overrides(dir.path(), NESTED_LOOP);
    let limits = RenderLimits {
        fuel: 50_000,
        ..RenderLimits::default()
    };
    let err = render(dir.path(), limits)
        .expect_err("out of fuel")
        .to_string();
    assert!(err.contains("max_fuel"), "{err}");
    assert!(err.contains("reminder-1.txt"), "{err}");
}

#[test]
fn output_past_the_limit_stops_rendering() {
    let dir = tempfile::tempdir().expect("dir");
    overrides(dir.path(), HUGE_OUTPUT);
    let limits = RenderLimits {
        fuel: 100_000_000,
        max_output_bytes: 64 * 1024,
    };
    let err = render(dir.path(), limits).expect_err("too large");
    assert!(
        matches!(err, TemplateError::TooLarge { limit: 65536, .. }),
        "{err}"
    );
    // The shipped templates fit the default bounds.
    let shipped = Renderer::new(None).expect("renderer");
    shipped
        .render("reminder-1", "en", &samples::notice("reminder-1", "en"))
        .expect("shipped template renders");
}

#[test]
fn templates_check_ends_with_an_error_on_a_runaway_template() {
    let dir = tempfile::tempdir().expect("dir");
    let templates = dir.path().join("templates");
    overrides(&templates, NESTED_LOOP);
    let config = dir.path().join("cspguard.toml");
    std::fs::write(
        &config,
        format!(
            "[partner_center]\ntenant_id = \"t\"\nclient_id = \"c\"\nclient_secret_env = \"X\"\n\
             [templates]\ndir = {:?}\n",
            templates.display().to_string()
        ),
    )
    .expect("config");
    let out = support::cli::run(
        &support::cli::args(&[
            "--config",
            &config.display().to_string(),
            "templates",
            "check",
        ]),
        &[],
        &[],
    );
    assert_ne!(out.code, Some(0), "{}", out.show());
    assert!(out.both().contains("max_fuel"), "{}", out.show());
}
