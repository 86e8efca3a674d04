/* SPDX-License-Identifier: Apache-2.0 */
/* Placeholder until the page server lands: every entry point says it is not available. */
#include <errno.h>
#include "transport/transport.h"

int transport_sink_open(const struct remote_opts *o, struct img_sink **sink, struct ferry_err *err)
{
	return fe_msg(err, ENOTSUP, "the page server is not available in this build");
}

int page_server_run(const struct remote_opts *o, const char *dir, int forever, struct ferry_err *err)
{
	return fe_msg(err, ENOTSUP, "the page server is not available in this build");
}

int image_export(const char *dir, const char *file, struct ferry_err *err)
{
	return fe_msg(err, ENOTSUP, "export is not available in this build");
}

int image_import(const char *file, const char *dir, struct ferry_err *err)
{
	return fe_msg(err, ENOTSUP, "import is not available in this build");
}
