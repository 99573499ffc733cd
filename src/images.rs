//! The images of stackc's own crates, named once: the registry path the release workflow
//! pushes to, the base images of the scraper's generated Dockerfile, and which images of
//! a stack no registry serves (`stackc build` lists them with how to get each).
//!
//! A fork publishes under its own owner by changing `REGISTRY` below: the flake
//! (`nix/default.nix`) and `.github/workflows/release.yml` read that line from this file,
//! and tests pin `examples/demo/stack.toml` and the docs to it.

use crate::model::{AppSource, Stack};

/// Registry host and owner stackc's images are published under (one `const` line: the
/// flake and the release workflow parse it).
pub const REGISTRY: &str = "ghcr.io/stackc-dev";

/// Image name (without registry) of `crates/usage-scraper`.
pub const USAGE_SCRAPER: &str = "stackc-usage-scraper";

/// Image name (without registry) of `crates/demo-app`.
pub const DEMO_APP: &str = "stackc-demo-app";

/// The build stage of the scraper's generated Dockerfile (as in
/// `crates/usage-scraper/Dockerfile`; a test keeps them equal).
pub const RUST_IMAGE: &str = "rust:1.95-slim-bookworm";

/// The runtime stage of the scraper's generated Dockerfile (as in
/// `crates/usage-scraper/Dockerfile`).
pub const RUNTIME_IMAGE: &str = "debian:bookworm-slim";

/// The version of this stackc, which is also the version of the scraper it is tested with
/// (the workspace shares one version).
pub const VERSION: &str = env!("CARGO_PKG_VERSION");

/// `<registry>/<name>:<tag>`: a published image of stackc.
pub fn published(name: &str, tag: &str) -> String {
    format!("{REGISTRY}/{name}:{tag}")
}

/// `<name>:<tag>`, no registry: the name a locally built image of stackc is tagged with.
pub fn local(name: &str, tag: &str) -> String {
    format!("{name}:{tag}")
}

/// An image a stack needs that no registry serves.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LocalImage {
    /// The compose service that runs it.
    pub service: String,
    pub how: Obtain,
}

/// How a [`LocalImage`] is obtained.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Obtain {
    /// compose builds it from a build context (`docker compose build SERVICE`): an app's
    /// `build`, the path as written in `stack.toml`.
    BuildApp { context: String },
    /// compose builds the usage scraper from the generated Dockerfile, which installs this
    /// crate version from crates.io.
    BuildScraper { image: String, version: String },
    /// `pull_policy = "never"`: the image must be built or loaded by hand.
    Never { image: String },
}

/// The images of `stack` that no registry serves, in compose service order (the stack's
/// own services first, then the apps by name).
pub fn local_images(stack: &Stack) -> Vec<LocalImage> {
    let mut out = Vec::new();
    if let Some(usage) = &stack.usage
        && let Some(version) = &usage.build
    {
        out.push(LocalImage {
            service: crate::wiring::service::USAGE_SCRAPER.to_owned(),
            how: Obtain::BuildScraper {
                image: usage.image.clone(),
                version: version.clone(),
            },
        });
    }
    for app in &stack.apps {
        let how = match &app.source {
            AppSource::Build(context) => Obtain::BuildApp {
                context: context.clone(),
            },
            AppSource::Image(image) if app.pull_policy == Some("never") => Obtain::Never {
                image: image.clone(),
            },
            AppSource::Image(_) => continue,
        };
        out.push(LocalImage {
            service: app.name.clone(),
            how,
        });
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names() {
        assert_eq!(
            published(USAGE_SCRAPER, "0.1.0"),
            "ghcr.io/stackc-dev/stackc-usage-scraper:0.1.0"
        );
        assert_eq!(local(USAGE_SCRAPER, "0.1.0"), "stackc-usage-scraper:0.1.0");
        // The flake and the release workflow read this exact line.
        let source = include_str!("images.rs");
        assert_eq!(
            source
                .lines()
                .filter(|l| l.starts_with("pub const REGISTRY: &str = \""))
                .count(),
            1
        );
    }
}
