#!/bin/sh
# Runs a build command trusting the system CAs plus build-certs/extra-ca.pem, if given.
set -eu
extra=/opt/build/certs/extra-ca.pem
if [ -s "$extra" ]; then
    cat /etc/ssl/certs/ca-certificates.crt "$extra" > /opt/build/ca.pem 2>/dev/null || cp "$extra" /opt/build/ca.pem
    export PIP_CERT=/opt/build/ca.pem SSL_CERT_FILE=/opt/build/ca.pem REQUESTS_CA_BUNDLE=/opt/build/ca.pem
fi
exec "$@"
