"""The SMART App Launch 2.x authorization server (Authlib): clients, codes, tokens."""
