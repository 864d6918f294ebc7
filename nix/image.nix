# The layered OCI image. Its config is the image contract shared with the Dockerfile
# (port, user, entrypoint, command, healthcheck, environment); tests/nix compares the two.
{
  dockerTools,
  cacert,
  tzdata,
  tini,
  fakeNss,
  venv,
  version,
}:
let
  port = 8080;
  uid = 65532;
  gid = 65532;

  # Docker's image config takes healthcheck durations in nanoseconds.
  seconds = s: s * 1000000000;

  # getpwuid() must resolve the non-root user (Python's getpass, some libraries' home lookup).
  passwd = fakeNss.override {
    extraPasswdLines = [ "app:x:${toString uid}:${toString gid}:app:/var/empty:/sbin/nologin" ];
    extraGroupLines = [ "app:x:${toString gid}:" ];
  };
in
# Streamed, not written to the store as a tarball: the image exists only while
# `docker image load` reads it, and the script's output is the same bytes on every run.
dockerTools.streamLayeredImage {
  name = "gemini-agent";
  # Fixed timestamps keep the image bit-reproducible (the default, spelled out).
  created = "1970-01-01T00:00:01Z";
  mtime = "1970-01-01T00:00:01Z";

  # Only what must appear under /; store paths named in `config` are added by reference.
  contents = [
    dockerTools.caCertificates
    passwd
  ];
  # dockerTools images have no /tmp; Python's tempfile and uvicorn need one.
  extraCommands = "mkdir -m 1777 tmp";

  config = {
    User = "${toString uid}:${toString gid}";
    ExposedPorts = {
      "${toString port}/tcp" = { };
    };
    Entrypoint = [
      "${tini}/bin/tini"
      "--"
    ];
    Cmd = [
      "${venv}/bin/agent"
      "serve"
    ];
    Healthcheck = {
      Test = [
        "CMD"
        "${venv}/bin/agent"
        "healthcheck"
      ];
      Interval = seconds 10;
      Timeout = seconds 3;
      StartPeriod = seconds 10;
      Retries = 3;
    };
    Env = [
      "PATH=${venv}/bin"
      "PYTHONDONTWRITEBYTECODE=1"
      "PYTHONUNBUFFERED=1"
      "HOST=0.0.0.0"
      "PORT=${toString port}"
      # What the Debian base provides by default, named explicitly here.
      "SSL_CERT_FILE=${cacert}/etc/ssl/certs/ca-bundle.crt"
      "TZDIR=${tzdata}/share/zoneinfo"
    ];
    Labels = {
      "org.opencontainers.image.title" = "gemini-agent";
      "org.opencontainers.image.version" = version;
      "org.opencontainers.image.created" = "1970-01-01T00:00:01Z";
    };
  };
}
