/*
 * A fake NDK provider for the C11 header test: one function per dispatch slot, each written with
 * the signature the NDKPI reference gives (section 1.5) and stored in its slot, so a typedef that
 * drifts from the reference fails to compile in fake_provider.c. The few fakes the consumer
 * sequence calls record their arguments in fake_seen.
 */
#ifndef SOFTRNIC_TESTS_NDK_FAKE_PROVIDER_H_
#define SOFTRNIC_TESTS_NDK_FAKE_PROVIDER_H_

#include "ndkpi.h"
#include "wskndk.h"

typedef struct FakeSeen {
  const NDK_SGE* sgl;
  ULONG nsge;
  ULONG flags;
  PVOID request_context;
  UINT64 remote_address;
  UINT32 remote_token;
  SOCKADDR_IN6 dest;
  ULONG dest_length;
} FakeSeen;
extern FakeSeen fake_seen;

/* Objects the fakes hand out; the test initialises their headers. */
extern NDK_ADAPTER fake_adapter; /* from fake_wsk_dispatch.WskOpenNdkAdapter */
extern NDK_PD fake_pd;           /* from NdkCreatePd, through its create completion */

extern const NDK_ADAPTER_DISPATCH fake_adapter_dispatch;
extern const NDK_PD_DISPATCH fake_pd_dispatch;
extern const NDK_CQ_DISPATCH fake_cq_dispatch;
extern const NDK_MR_DISPATCH fake_mr_dispatch;
extern const NDK_MW_DISPATCH fake_mw_dispatch;
extern const NDK_SRQ_DISPATCH fake_srq_dispatch;
extern const NDK_QP_DISPATCH fake_qp_dispatch;
extern const NDK_SHARED_ENDPOINT_DISPATCH fake_shared_endpoint_dispatch;
extern const NDK_CONNECTOR_DISPATCH fake_connector_dispatch;
extern const NDK_LISTENER_DISPATCH fake_listener_dispatch;
extern const NDK_FN_QUERY_ADAPTER_INFO_EX fake_query_adapter_info_ex;
extern const NDK_FN_DISCONNECT_EX fake_disconnect_ex;
extern const WSK_PROVIDER_NDK_DISPATCH fake_wsk_dispatch;

#endif /* SOFTRNIC_TESTS_NDK_FAKE_PROVIDER_H_ */
