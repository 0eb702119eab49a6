# One image for the web process, the Celery worker and Celery beat.
FROM python:3.13-slim
RUN apt-get update && apt-get install -y --no-install-recommends git gettext \
    && rm -rf /var/lib/apt/lists/*
RUN useradd --create-home --uid 1000 vitrina
WORKDIR /app
COPY pyproject.toml README.md ./
COPY portal ./portal
COPY verifier ./verifier
COPY templates ./templates
COPY static ./static
COPY locale ./locale
COPY manage.py gunicorn.conf.py ./
RUN pip install --no-cache-dir -e . \
    && mkdir -p /var/lib/vitrina && chown vitrina /var/lib/vitrina
ENV VITRINA_VAR_DIR=/var/lib/vitrina STATIC_ROOT=/app/staticfiles HOST=0.0.0.0 PORT=8000
RUN VITRINA_VAR_DIR=/tmp/build SECRET_KEY=build-only python manage.py collectstatic --noinput -v 0
USER vitrina
EXPOSE 8000
CMD ["gunicorn", "portal.wsgi:application", "-c", "gunicorn.conf.py"]
