//! TLS to PostgreSQL (`[postgres] sslmode` and `root_cert`), with libpq's semantics.
//!
//! | `sslmode`     | `root_cert` | TLS       | certificate chain             | host name |
//! |---------------|-------------|-----------|-------------------------------|-----------|
//! | `disable`     | ignored     | never     | —                             | —         |
//! | `require`     | absent      | mandatory | not checked                   | no        |
//! | `require`     | set         | mandatory | against `root_cert`           | no        |
//! | `verify-full` | absent      | mandatory | against the system's CA roots | yes       |
//! | `verify-full` | set         | mandatory | against `root_cert` only      | yes       |
//!
//! `require` with `root_cert` is what libpq does when a root certificate file exists: it
//! behaves like `verify-ca` (the chain must lead to one of the given CAs, the host name is not
//! compared). Without `root_cert`, `require` only encrypts: the server's certificate is
//! accepted whatever it is, but the handshake signatures are still checked, so the peer must
//! hold the key of the certificate it presents. As with libpq, a host that is a Unix-socket
//! directory (starts with `/`) never uses TLS.
//!
//! The connector is rustls (aws-lc-rs provider) via `tokio-postgres-rustls`, which also
//! provides SCRAM channel binding (`tls-server-end-point`). The system roots come from
//! `rustls-platform-verifier` (on Linux: the OpenSSL certificate store, `SSL_CERT_FILE` /
//! `SSL_CERT_DIR` are honoured).

use std::fmt;
use std::path::Path;
use std::sync::Arc;

use anyhow::{Context, Result, bail};
use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::crypto::{CryptoProvider, verify_tls12_signature, verify_tls13_signature};
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, ServerName, UnixTime};
use rustls::server::ParsedCertificate;
use rustls::{ClientConfig, DigitallySignedStruct, RootCertStore, SignatureScheme};

use crate::settings::{PostgresSettings, SslMode};

/// Reads the CA certificates of a PEM file (one or more `BEGIN CERTIFICATE` blocks; other
/// blocks are skipped). Errors name the path.
pub fn load_root_certs(path: &Path) -> Result<Vec<CertificateDer<'static>>> {
    let pem = std::fs::read(path)
        .with_context(|| format!("cannot read postgres.root_cert {}", path.display()))?;
    let certs = CertificateDer::pem_slice_iter(&pem)
        .collect::<Result<Vec<_>, _>>()
        .with_context(|| format!("postgres.root_cert {} is not valid PEM", path.display()))?;
    if certs.is_empty() {
        bail!(
            "postgres.root_cert {} holds no certificate (expected PEM \
             \"-----BEGIN CERTIFICATE-----\" blocks)",
            path.display()
        );
    }
    Ok(certs)
}

/// A root store with the certificates of `path`; errors name the path.
fn root_store(path: &Path) -> Result<RootCertStore> {
    let mut roots = RootCertStore::empty();
    for (i, cert) in load_root_certs(path)?.into_iter().enumerate() {
        roots.add(cert).with_context(|| {
            format!(
                "certificate #{} of postgres.root_cert {} is not a usable CA certificate",
                i + 1,
                path.display()
            )
        })?;
    }
    Ok(roots)
}

/// Whether this connection uses TLS: `sslmode` is not `disable` and the host is not a
/// Unix-socket directory.
pub fn uses_tls(s: &PostgresSettings) -> bool {
    s.sslmode != SslMode::Disable && !s.host.starts_with('/')
}

/// The rustls client configuration for these settings, or `None` when the connection does not
/// use TLS ([`uses_tls`]). Reads `root_cert` (so a renewed CA file is picked up on reconnect).
pub fn client_config(s: &PostgresSettings) -> Result<Option<ClientConfig>> {
    if !uses_tls(s) {
        return Ok(None);
    }
    let provider = Arc::new(rustls::crypto::aws_lc_rs::default_provider());
    let builder = ClientConfig::builder_with_provider(provider.clone())
        .with_safe_default_protocol_versions()
        .context("the TLS provider supports no protocol version")?;
    let root_cert = s.root_cert.as_deref();
    let config = match (s.sslmode, root_cert) {
        (SslMode::Disable, _) => return Ok(None),
        (SslMode::Require, None) => builder
            .dangerous()
            .with_custom_certificate_verifier(Arc::new(AnyCertificate { provider }))
            .with_no_client_auth(),
        (SslMode::Require, Some(path)) => builder
            .dangerous()
            .with_custom_certificate_verifier(Arc::new(ChainOnly {
                roots: root_store(path)?,
                provider,
            }))
            .with_no_client_auth(),
        (SslMode::VerifyFull, Some(path)) => builder
            .with_root_certificates(root_store(path)?)
            .with_no_client_auth(),
        (SslMode::VerifyFull, None) => {
            let verifier = rustls_platform_verifier::Verifier::new(provider).context(
                "sslmode=verify-full without root_cert needs the system's CA certificates",
            )?;
            builder
                .dangerous()
                .with_custom_certificate_verifier(Arc::new(verifier))
                .with_no_client_auth()
        }
    };
    Ok(Some(config))
}

/// A sentence on why connecting failed, when TLS is the reason (`None` otherwise).
pub fn explain_connect_error(e: &tokio_postgres::Error, s: &PostgresSettings) -> Option<String> {
    if !uses_tls(s) {
        return None;
    }
    let mode = s.sslmode;
    let mut source = std::error::Error::source(e);
    while let Some(err) = source {
        if err.to_string().contains("server does not support TLS") {
            return Some(format!(
                "TLS required (sslmode={mode}) but the server does not support it \
                 (is ssl = on in its postgresql.conf?)"
            ));
        }
        // tokio-postgres-rustls reports rustls errors inside an io::Error.
        let tls = err.downcast_ref::<rustls::Error>().or_else(|| {
            err.downcast_ref::<std::io::Error>()?
                .get_ref()?
                .downcast_ref()
        });
        if let Some(tls) = tls {
            let checks = match (mode, &s.root_cert) {
                (SslMode::Require, None) => {
                    "certificate not checked, only the handshake signature".to_owned()
                }
                (SslMode::Require, Some(p)) => format!(
                    "chain checked against the CA certificates in {}, host name not checked",
                    p.display()
                ),
                (_, Some(p)) => format!(
                    "chain checked against the CA certificates in {}, host name checked",
                    p.display()
                ),
                (_, None) => "chain checked against the system's CA certificates, host name \
                              checked"
                    .to_owned(),
            };
            // The rustls error itself follows in the chain.
            return Some(match tls {
                rustls::Error::InvalidCertificate(_) => format!(
                    "certificate verification failed for host {} (sslmode={mode}: {checks})",
                    s.host
                ),
                _ => format!(
                    "TLS handshake with host {} failed (sslmode={mode}: {checks})",
                    s.host
                ),
            });
        }
        source = err.source();
    }
    None
}

/// `sslmode=require` without `root_cert`: any certificate is accepted, but the handshake
/// signatures must verify (the server holds the private key of what it presents).
struct AnyCertificate {
    provider: Arc<CryptoProvider>,
}

/// `sslmode=require` with `root_cert` (libpq's verify-ca): the chain must lead to one of the
/// given CAs and be valid now; the host name is not compared.
struct ChainOnly {
    roots: RootCertStore,
    provider: Arc<CryptoProvider>,
}

impl fmt::Debug for AnyCertificate {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("AnyCertificate")
    }
}

impl fmt::Debug for ChainOnly {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ChainOnly")
            .field("roots", &self.roots.len())
            .finish_non_exhaustive()
    }
}

/// The handshake-signature half of [`ServerCertVerifier`], shared by both verifiers.
macro_rules! handshake_signatures {
    () => {
        fn verify_tls12_signature(
            &self,
            message: &[u8],
            cert: &CertificateDer<'_>,
            dss: &DigitallySignedStruct,
        ) -> Result<HandshakeSignatureValid, rustls::Error> {
            verify_tls12_signature(
                message,
                cert,
                dss,
                &self.provider.signature_verification_algorithms,
            )
        }

        fn verify_tls13_signature(
            &self,
            message: &[u8],
            cert: &CertificateDer<'_>,
            dss: &DigitallySignedStruct,
        ) -> Result<HandshakeSignatureValid, rustls::Error> {
            verify_tls13_signature(
                message,
                cert,
                dss,
                &self.provider.signature_verification_algorithms,
            )
        }

        fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
            self.provider
                .signature_verification_algorithms
                .supported_schemes()
        }
    };
}

impl ServerCertVerifier for AnyCertificate {
    fn verify_server_cert(
        &self,
        _end_entity: &CertificateDer<'_>,
        _intermediates: &[CertificateDer<'_>],
        _server_name: &ServerName<'_>,
        _ocsp_response: &[u8],
        _now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        Ok(ServerCertVerified::assertion())
    }

    handshake_signatures!();
}

impl ServerCertVerifier for ChainOnly {
    fn verify_server_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        intermediates: &[CertificateDer<'_>],
        _server_name: &ServerName<'_>,
        _ocsp_response: &[u8],
        now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        let cert = ParsedCertificate::try_from(end_entity)?;
        rustls::client::verify_server_cert_signed_by_trust_anchor(
            &cert,
            &self.roots,
            intermediates,
            now,
            self.provider.signature_verification_algorithms.all,
        )?;
        Ok(ServerCertVerified::assertion())
    }

    handshake_signatures!();
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn root_cert_errors_name_the_path() {
        let dir = tempfile::tempdir().unwrap();
        let missing = dir.path().join("missing.pem");
        let err = format!("{:#}", load_root_certs(&missing).unwrap_err());
        assert!(err.contains(&missing.display().to_string()), "{err}");
        let empty = dir.path().join("empty.pem");
        std::fs::write(&empty, "not a certificate\n").unwrap();
        let err = format!("{:#}", load_root_certs(&empty).unwrap_err());
        assert!(err.contains("holds no certificate"), "{err}");
        assert!(err.contains(&empty.display().to_string()), "{err}");
    }
}
