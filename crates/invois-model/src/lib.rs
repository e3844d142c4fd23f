//! MyInvois documents: the 8 e-invoice types, v1.0-1.3, UBL JSON and XML, local validation, code tables.
