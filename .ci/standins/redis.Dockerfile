# Stand-in for the official Redis image: Debian's redis-server, same entrypoint behaviour
# (runs as the redis user in /data, protected mode off as the official build ships it).
ARG ROOTFS_IMAGE
FROM ${ROOTFS_IMAGE}
COPY redis-entrypoint.sh /usr/local/bin/docker-entrypoint.sh
RUN mkdir -p /data && chown redis:redis /data
VOLUME /data
WORKDIR /data
EXPOSE 6379
ENTRYPOINT ["/usr/local/bin/docker-entrypoint.sh"]
CMD ["redis-server"]
