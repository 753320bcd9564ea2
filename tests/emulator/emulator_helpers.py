"""Constants shared by the emulator tests (a uniquely named module: 'conftest' is not importable safely)."""

CCM_HOST = 'ccm.example.test'
HOOK_HOST = 'hook.example.test'
CCM_URL = 'https://%s/ccm/webhook/twitter' % CCM_HOST
HOOK_URL = 'https://%s/webhooks/twitter' % HOOK_HOST
V1 = '/1.1/account_activity/all'
# The emulator's end of AAA in the tests (the default is 2027-01-01T00:00:00Z): pinned so the suite passes on and
# after that date.
AAA_PINNED_END = '2100-01-01T00:00:00Z'  # = xemu.testing.PINNED_AAA_END
XAA_SUBS = '/2/activity/subscriptions'
