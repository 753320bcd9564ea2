"""Constants shared by the emulator tests (a uniquely named module: 'conftest' is not importable safely)."""

CCM_HOST = 'ccm.example.test'
HOOK_HOST = 'hook.example.test'
CCM_URL = 'https://%s/ccm/webhook/twitter' % CCM_HOST
HOOK_URL = 'https://%s/webhooks/twitter' % HOOK_HOST
V1 = '/1.1/account_activity/all'
