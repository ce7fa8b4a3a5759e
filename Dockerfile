FROM python:3.11-slim

ENV PYTHONDONTWRITEBYTECODE=1 PYTHONUNBUFFERED=1 PIP_DISABLE_PIP_VERSION_CHECK=1
WORKDIR /app

COPY pyproject.toml requirements.lock README.md ./
COPY countonce countonce
COPY ingest ingest
COPY expectations expectations
COPY scheduler scheduler
COPY dbt_project dbt_project
RUN pip install --no-cache-dir -c requirements.lock -e . \
    && useradd --create-home countonce \
    && mkdir -p /data/inbox /data/countonce && chown -R countonce /data /app/dbt_project

USER countonce
# `countonce serve` (the webhooks service) listens here.
EXPOSE 8000
ENV COUNTONCE_HOME=/data/countonce COUNTONCE_INBOX=/data/inbox
CMD ["countonce", "schedule"]
