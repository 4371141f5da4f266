# syntax=docker/dockerfile:1
#
# confighash sidecar image for Argo CD (Config Management Plugin v2).
#
# Build:  docker build -t ghcr.io/confighash/confighash:0.1.0 .
#
# The argocd-cmp-server binary is NOT in this image: Argo CD's repo-server pod
# copies it into the shared "var-files" volume (/var/run/argocd) at start-up.
# Run the image only as a sidecar of argocd-repo-server (see deploy/).
#
# Pinned inputs. Each image is referenced by tag AND digest; to upgrade, change
# both together (for example with Renovate, or by reading the digest from
# `docker buildx imagetools inspect IMAGE:TAG`).
#
# Provenance of the digests below: they could not be pulled or checked against a
# registry where this file was written (no registry access there). Each one was
# taken from several unrelated public repositories that pin the same tag to the
# same digest. Verify them once before the first release.
#
# - kustomize: the official image published by the kustomize project
#   (registry.k8s.io/kustomize/kustomize); static binary at /app/kustomize.
# - helm: the Helm project publishes no container image of its own. alpine/helm
#   is the widely used community image that repackages the official release
#   binary (static, at /usr/bin/helm). helm is only used when the administrator
#   enables --enable-helm in CONFIGHASH_BUILD_OPTIONS.
# - python: the Docker Official Image, slim Debian bookworm, CPython 3.11.
ARG KUSTOMIZE_VERSION=v5.8.1
ARG KUSTOMIZE_DIGEST=sha256:899fcd3bc898160e62bcaf82932b0cb29ba38d16272353db2e7acbba82129429
ARG HELM_VERSION=3.19.0
ARG HELM_DIGEST=sha256:aef9b56f64e866207d9591d0abd8f6d767b36aadd12edf68f8a719716d9d29c9
ARG PYTHON_TAG=3.11-slim-bookworm
ARG PYTHON_DIGEST=sha256:528257d48c1da0dcecc2e725d1ae34498d60c965f1241e39cd6a85a8859bdf84

FROM registry.k8s.io/kustomize/kustomize:${KUSTOMIZE_VERSION}@${KUSTOMIZE_DIGEST} AS kustomize

FROM docker.io/alpine/helm:${HELM_VERSION}@${HELM_DIGEST} AS helm

# ---------------------------------------------------------------------------
# builder: turn the project (and its dependencies) into wheels.
FROM docker.io/library/python:${PYTHON_TAG}@${PYTHON_DIGEST} AS builder
ENV PIP_DISABLE_PIP_VERSION_CHECK=1 \
    PIP_NO_CACHE_DIR=1
WORKDIR /src
COPY pyproject.toml README.md ./
COPY cmp ./cmp
RUN pip wheel --wheel-dir /wheels .

# ---------------------------------------------------------------------------
# final: slim Python, the wheels, kustomize, helm and plugin.yaml.
FROM docker.io/library/python:${PYTHON_TAG}@${PYTHON_DIGEST}

LABEL org.opencontainers.image.title="confighash" \
      org.opencontainers.image.description="Argo CD sidecar plugin: stamps ConfigMap/Secret checksums on the pod templates that use them" \
      org.opencontainers.image.licenses="Apache-2.0"

# git lets kustomize resolve remote bases (resources: - https://host/repo//dir?ref=x),
# as Argo CD's built-in kustomize can; ca-certificates for HTTPS.
# DL3008 (pin apt package versions) is ignored on purpose: the base image is
# pinned by digest, and Debian removes superseded package versions from its
# archive, so an exact version pin would break every rebuild after the next
# security update instead of picking it up.
# hadolint ignore=DL3008
RUN apt-get update \
 && apt-get install -y --no-install-recommends git ca-certificates \
 && rm -rf /var/lib/apt/lists/*

COPY --from=kustomize /app/kustomize /usr/local/bin/kustomize
COPY --from=helm /usr/bin/helm /usr/local/bin/helm

# Install the project's wheel and its dependencies from the builder's wheels
# only (--no-index): nothing is fetched in this stage, and the versions are the
# ones resolved once in the builder. The bind mount keeps the wheels out of the
# final image's layers. `confighash --version` fails the build if the entry
# point does not start.
RUN --mount=type=bind,from=builder,source=/wheels,target=/wheels \
    pip install --no-cache-dir --no-index --find-links=/wheels /wheels/confighash-*.whl \
 && confighash --version

COPY plugin.yaml /home/argocd/cmp-server/config/plugin.yaml

# The sidecar runs as uid 999 with a read-only root filesystem and a writable
# /tmp (an emptyDir). uid 999 has no passwd entry and no home directory here,
# so every tool that wants a home or cache directory is pointed into /tmp.
# Byte-code is compiled at install time and never written at run time.
ENV HOME=/tmp \
    TMPDIR=/tmp \
    XDG_CACHE_HOME=/tmp/.cache \
    XDG_CONFIG_HOME=/tmp/.config \
    XDG_DATA_HOME=/tmp/.local/share \
    HELM_CACHE_HOME=/tmp/.cache/helm \
    HELM_CONFIG_HOME=/tmp/.config/helm \
    HELM_DATA_HOME=/tmp/.local/share/helm \
    KUSTOMIZE_BIN=/usr/local/bin/kustomize \
    PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    PIP_NO_CACHE_DIR=1

USER 999
WORKDIR /tmp

# Provided at run time by Argo CD through the var-files volume.
ENTRYPOINT ["/var/run/argocd/argocd-cmp-server"]
