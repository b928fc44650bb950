//! Partner security alerts (`/beta/security/partner/securityAlerts`): typed alert model and the
//! client calls that list, read and update them. (Not implemented yet.)
