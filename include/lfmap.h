/*
 * lfmap.h - umbrella header: a concurrent lock-free hash map for
 * multithreaded servers, with incremental RCU-protected migration.
 *   <lfmap/common.h>  configuration, lifecycle, read lock, resize, stats
 *   <lfmap/node.h>    intrusive map (user-embedded struct lfmap_node)
 *   <lfmap/word.h>    64-bit keys and 62-bit values stored inline
 *   <lfmap/str.h>     byte-string keys and values in library-owned nodes
 * Link with: pkg-config --cflags --libs lfmap
 */
#ifndef LFMAP_H
#define LFMAP_H
#include <lfmap/common.h>
#include <lfmap/node.h>
#include <lfmap/word.h>
#include <lfmap/str.h>
#endif
