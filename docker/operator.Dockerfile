# The Kitaru operator image: the SDK, the operator and the store clients, non-root.
# Build from the repository root:  docker build -f docker/operator.Dockerfile -t kitaru-operator .
# (Not built in this project's CI: its machines have no container engine. The e2e suite
# runs the same install, `pip install` of this project with these extras, in a venv.)
FROM python:3.11-slim
RUN useradd --uid 65532 --no-create-home --shell /usr/sbin/nologin kitaru
WORKDIR /src
COPY pyproject.toml README.md ./
COPY sdk sdk
COPY operator operator
RUN pip install --no-cache-dir '.[operator,s3,gcs,azure]' && rm -rf /src
WORKDIR /
USER 65532:65532
ENTRYPOINT ["python", "-m", "kitaru_operator"]
