# Stand-in for the official slim Python image: Debian's python3 on a debootstrap rootfs.
# tini is pre-installed so the app image's runtime stage needs no apt step here.
ARG ROOTFS_IMAGE
FROM ${ROOTFS_IMAGE}
ENV LANG=C.UTF-8 \
    PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin
CMD ["python3"]
