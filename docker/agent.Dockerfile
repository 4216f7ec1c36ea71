# A base for agent images: the Kitaru SDK with the store clients, non-root. Agent images
# add their own code on top, for example:
#   FROM kitaru-agent-base
#   COPY my_agent /app/my_agent
# and name it in a FlowVersion's spec.image, with spec.entrypoint my_agent.flows:research.
# Build from the repository root:  docker build -f docker/agent.Dockerfile -t kitaru-agent-base .
# (Not built in this project's CI: its machines have no container engine.)
FROM python:3.11-slim
RUN useradd --uid 65532 --no-create-home --shell /usr/sbin/nologin agent
WORKDIR /src
COPY pyproject.toml README.md ./
COPY sdk sdk
COPY operator operator
RUN pip install --no-cache-dir '.[s3,gcs,azure]' && rm -rf /src
WORKDIR /app
ENV PYTHONPATH=/app
USER 65532:65532
