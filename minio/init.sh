#!/bin/sh
# One-shot set-up of the demo MinIO, run by the minio-init service with MinIO's mc:
# the bucket, a key pair for the gateway that may use only that bucket, and a few demo files.
set -eu
mc alias set demo http://minio:9000 "$MINIO_ROOT_USER" "$MINIO_ROOT_PASSWORD"
mc mb --ignore-existing "demo/$BUCKET"
sed "s/BUCKET/$BUCKET/g" /setup/gateway-policy.json > /tmp/gateway-policy.json
mc admin policy create demo gateway-only /tmp/gateway-policy.json
mc admin user add demo "$GATEWAY_ACCESS_KEY" "$GATEWAY_SECRET_KEY"
mc admin policy attach demo gateway-only --user "$GATEWAY_ACCESS_KEY" || true  # already attached on a re-run
mc mirror --overwrite /setup/seed "demo/$BUCKET"
echo "minio-init: bucket $BUCKET ready"
