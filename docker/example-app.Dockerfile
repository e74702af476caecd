# A Hover stage's image, for the example application: the runtime image with the Laravel
# application in /var/task (its hover_runtime/manifest.json included). A real stage copies
# its own application, with composer's vendor/ in it, the same way.
#
#   docker build -f docker/example-app.Dockerfile -t hover/example-app .
ARG RUNTIME_IMAGE=hover/runtime:php8.2
FROM ${RUNTIME_IMAGE}

# The example application has no composer vendor/: it uses Debian's Laravel 8.83 through
# PHP's include_path (/usr/share/php). A stage with its own vendor/ needs none of this.
USER root
RUN apt-get update \
    && DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends php-laravel-framework \
    && rm -rf /var/lib/apt/lists/* /var/cache/apt/* /var/log/apt /var/log/dpkg.log

# Owned by root and only readable by others: Lambda runs the function as another user, and
# nothing under /var/task is written at run time (storage is /tmp/storage).
COPY example-app /var/task
RUN chmod -R a+rX,go-w /var/task
