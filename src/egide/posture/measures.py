"""The référentiel measures the workstation checks evidence, and the checks' stable names.

Measure ids come from table (a) of the compliance reference (`RCM-<thème>-<n>`); check names are
part of the report format (docs/formats/posture-report.md) and must not change.
"""

from __future__ import annotations

from typing import Final

AUTO_LOCK: Final = "RCM-POS-1"  # Verrouillage automatique de session après inactivité
ANTIVIRUS: Final = "RCM-POS-2"  # Antivirus actif, mis à jour automatiquement
FIREWALL: Final = "RCM-POS-3"  # Pare-feu logiciel activé sur chaque poste
REMOTE_MAINTENANCE: Final = "RCM-POS-4"  # Télémaintenance seulement avec l'accord de l'utilisateur
ENCRYPTION: Final = "RCM-MOB-1"  # Chiffrer portables, clés USB, disques externes
WIFI: Final = "RCM-RES-3"  # Wi-Fi chiffré WPA2/WPA3
ADMINISTRATION: Final = "RCM-SRV-1"  # Administration réservée aux personnes habilitées
UPDATES: Final = "RCM-SRV-2"  # Mises à jour critiques sans délai, OS supporté
PASSWORDS: Final = "RCM-AUT-2"  # Politique de mots de passe conforme à la recommandation CNIL
LOCKOUT: Final = "RCM-AUT-4"  # Limiter les tentatives de connexion

# check name -> (measure id, French title shown in reports), in report order.
CHECKS: Final[dict[str, tuple[str, str]]] = {
    "antivirus_present": (ANTIVIRUS, "Antivirus installé"),
    "antivirus_realtime": (ANTIVIRUS, "Protection antivirus en temps réel"),
    "antivirus_signatures": (ANTIVIRUS, "Signatures antivirus à jour"),
    "os_supported": (UPDATES, "Système d'exploitation encore maintenu"),
    "security_updates": (UPDATES, "Mises à jour de sécurité appliquées"),
    "system_disk_encryption": (ENCRYPTION, "Disque système chiffré"),
    "removable_disk_encryption": (ENCRYPTION, "Supports amovibles chiffrés"),
    "screen_lock": (AUTO_LOCK, "Verrouillage automatique de l'écran (≤ 10 min)"),
    "firewall": (FIREWALL, "Pare-feu activé"),
    "administrators": (ADMINISTRATION, "Compte du quotidien sans droits d'administrateur"),
    "remote_access": (REMOTE_MAINTENANCE, "Outils de prise en main à distance"),
    "password_policy": (PASSWORDS, "Longueur minimale des mots de passe"),
    "lockout_policy": (LOCKOUT, "Blocage après des essais de mot de passe manqués"),
    "wifi_security": (WIFI, "Sécurité du réseau Wi-Fi utilisé"),
}
