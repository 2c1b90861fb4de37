# One image for the worker, the API, the one-shot migrate/deploy jobs and the Prefect server itself, so every
# process runs the same pinned Prefect, SQLAlchemy and flow code. The worker runs flows from /app (the
# deployments' working directory, recorded by `prefect deploy` run from here).
FROM python:3.11-slim

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    PREFECT_HOME=/home/receipts/.prefect \
    DATA_DIR=/home/receipts/data

WORKDIR /app

# Dependencies first (cached while only the code changes): install the project's requirements from
# pyproject.toml, at the versions pinned in constraints.txt, with a stub package, then the real code.
COPY pyproject.toml README.md constraints.txt ./
RUN mkdir -p receipt_sync cli && touch receipt_sync/__init__.py cli/__init__.py \
    && pip install -c constraints.txt . && pip uninstall -y receipt-sync && rm -rf receipt_sync cli build *.egg-info

COPY . .
RUN pip install --no-deps -e . \
    && useradd --create-home --uid 10001 receipts \
    && chown -R receipts:receipts /app

USER receipts
EXPOSE 8000 4200
CMD ["receipts", "--help"]
