/* SPDX-License-Identifier: Apache-2.0 */
/* Dropping privileges after the capture device is open (--user). The
 * process becomes the user (and its primary group, no supplementary
 * groups) and keeps only the capabilities in `keep` (e.g. CAP_NET_ADMIN so
 * that the AF_XDP backend can still detach its program at exit); no new
 * privileges can be gained afterwards (PR_SET_NO_NEW_PRIVS). */
#include <errno.h>
#include <grp.h>
#include <linux/capability.h>
#include <pwd.h>
#include <stdio.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "mbx/live.h"

int mbx_drop_privileges(const char *user, uint64_t keep, char *err, size_t errlen)
{
	struct passwd *pw = getpwnam(user);
	struct __user_cap_header_struct hdr = { .version = _LINUX_CAPABILITY_VERSION_3, .pid = 0 };
	struct __user_cap_data_struct data[2];

	if (!pw) {
		snprintf(err, errlen, "--user: no user named '%s'", user);
		return -ENOENT;
	}
	if (keep && prctl(PR_SET_KEEPCAPS, 1, 0, 0, 0) < 0)
		goto fail;
	if (setgroups(0, NULL) < 0 || setgid(pw->pw_gid) < 0 || setuid(pw->pw_uid) < 0)
		goto fail;
	memset(data, 0, sizeof(data));
	data[0].effective = data[0].permitted = (uint32_t)keep;
	data[1].effective = data[1].permitted = (uint32_t)(keep >> 32);
	if (syscall(SYS_capset, &hdr, data) < 0)
		goto fail;
	if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) < 0)
		goto fail;
	if (setuid(0) == 0) { /* must be impossible now */
		snprintf(err, errlen, "--user: privileges could be regained; refusing to continue");
		return -EPERM;
	}
	return 0;
fail:
	snprintf(err, errlen, "--user %s: cannot drop privileges: %s (run as root to use --user)", user,
		 strerror(errno));
	return -errno;
}
