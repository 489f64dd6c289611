"""The AbVLM-Q web platform (Django). Imports scoring/, never trainer/."""
