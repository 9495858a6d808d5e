"""Linux checks: ClamAV, apt/dnf, LUKS, GNOME/KDE screen lock, ufw/firewalld/nftables, sudo, PAM."""
