"""vqaloop.losses"""
