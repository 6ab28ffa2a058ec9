/* common/msg.h under another name for one symbol.
 *
 * The public rmq.h declares `const char *rmq_msg_offset_id(const rmq_msg_t *)` while the
 * shared codec in common/msg.h declares `void rmq_msg_offset_id(char *, host, offset)`: two
 * fixed contracts with one name. librmq therefore compiles its own copy of common/msg.c with
 * the codec's function renamed to rmq_msgcodec_offset_id (client/CMakeLists.txt), and its
 * sources include the codec through this header only. */
#ifndef RMQ_CLIENT_MSGCODEC_H
#define RMQ_CLIENT_MSGCODEC_H

#define rmq_msg_offset_id rmq_msgcodec_offset_id
#include "common/msg.h"
#undef rmq_msg_offset_id

#endif
