# The OCI image of one workspace binary, under the name and tag the generated
# compose.yaml uses and the release publishes (`<registry>/stackc-<binary>:<version>`), so
# that `docker load < image` stands in for the pull: no registry, no Dockerfile build.
# Only the binary's runtime closure is in it; it runs as the non-root user 10001, like
# crates/usage-scraper/Dockerfile.
{ pkgs, registry }:
{
  package,
  tag,
  port,
  cmd ? [ ],
}:
let
  name = "${registry}/stackc-${package.pname}";
in
{
  ref = "${name}:${tag}";
  image = pkgs.dockerTools.buildLayeredImage {
    inherit name tag;
    # /etc/passwd and /etc/group name the user; /tmp for libraries that want one
    # (compose runs the scraper with a read-only root file system).
    extraCommands = ''
      mkdir -p etc tmp
      chmod 1777 tmp
      printf '%s\n' \
        'root:x:0:0:root:/root:/sbin/nologin' \
        'stackc:x:10001:10001:stackc:/nonexistent:/sbin/nologin' \
        'nobody:x:65534:65534:nobody:/nonexistent:/sbin/nologin' > etc/passwd
      printf '%s\n' 'root:x:0:' 'stackc:x:10001:' 'nogroup:x:65534:' > etc/group
    '';
    config = {
      User = "10001:10001";
      Entrypoint = [ (pkgs.lib.getExe package) ];
      Cmd = cmd;
      # rustls' platform verifier reads the system roots (HTTPS to Loki, OTLP endpoints)
      Env = [ "SSL_CERT_FILE=${pkgs.cacert}/etc/ssl/certs/ca-bundle.crt" ];
      ExposedPorts = {
        "${toString port}/tcp" = { };
      };
      Labels = {
        "org.opencontainers.image.title" = package.pname;
        "org.opencontainers.image.version" = tag;
        "org.opencontainers.image.description" = package.meta.description;
      };
    };
  };
}
